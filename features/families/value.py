"""value features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="value", reason="spending pattern")
def revenue_30d(ctx):
    """revenue_30d."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def revenue_90d(ctx):
    """revenue_90d."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def revenue_365d(ctx):
    """revenue_365d."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def tenure_days(ctx):
    """tenure_days."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def average_order_value_365d(ctx):
    """average_order_value_365d."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def purchases_365d(ctx):
    """purchases_365d."""
    raise NotImplementedError


@register(family="value", reason="spending pattern")
def plan_price(ctx):
    """plan_price."""
    raise NotImplementedError
