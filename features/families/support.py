"""support features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="support", reason="contacted support more than usual")
def support_contacts_7d(ctx):
    """support_contacts_7d."""
    raise NotImplementedError


@register(family="support", reason="contacted support more than usual")
def support_contacts_30d(ctx):
    """support_contacts_30d."""
    raise NotImplementedError


@register(family="support", reason="contacted support more than usual")
def support_contacts_90d(ctx):
    """support_contacts_90d."""
    raise NotImplementedError


@register(family="support", reason="contacted support more than usual")
def support_spike_ratio_7d(ctx):
    """support_spike_ratio_7d."""
    raise NotImplementedError


@register(family="support", reason="contacted support more than usual")
def days_since_last_support_contact(ctx):
    """days_since_last_support_contact."""
    raise NotImplementedError
