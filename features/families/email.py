"""email features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="email", reason="leaves marketing emails unopened")
def emails_sent_30d(ctx):
    """emails_sent_30d."""
    raise NotImplementedError


@register(family="email", reason="leaves marketing emails unopened")
def emails_opened_30d(ctx):
    """emails_opened_30d."""
    raise NotImplementedError


@register(family="email", reason="leaves marketing emails unopened")
def email_open_rate_30d(ctx):
    """email_open_rate_30d."""
    raise NotImplementedError


@register(family="email", reason="leaves marketing emails unopened")
def unopened_email_streak(ctx):
    """unopened_email_streak."""
    raise NotImplementedError


@register(family="email", reason="leaves marketing emails unopened")
def days_since_last_email_open(ctx):
    """days_since_last_email_open."""
    raise NotImplementedError
