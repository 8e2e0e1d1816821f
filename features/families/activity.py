"""activity features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="activity", reason="has become less active")
def days_since_last_activity(ctx):
    """days_since_last_activity."""
    raise NotImplementedError


@register(family="activity", reason="has become less active")
def active_days_7d(ctx):
    """active_days_7d."""
    raise NotImplementedError


@register(family="activity", reason="has become less active")
def active_days_30d(ctx):
    """active_days_30d."""
    raise NotImplementedError


@register(family="activity", reason="has become less active")
def active_days_90d(ctx):
    """active_days_90d."""
    raise NotImplementedError


@register(family="activity", reason="has become less active")
def activity_trend_30d_vs_60d(ctx):
    """activity_trend_30d_vs_60d."""
    raise NotImplementedError
