"""web_journey features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def faq_visits_7d(ctx):
    """faq_visits_7d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def faq_visits_30d(ctx):
    """faq_visits_30d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def faq_visits_90d(ctx):
    """faq_visits_90d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def cancel_page_visits_7d(ctx):
    """cancel_page_visits_7d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def cancel_page_visits_30d(ctx):
    """cancel_page_visits_30d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def cancel_page_visits_90d(ctx):
    """cancel_page_visits_90d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def faq_then_cancel_30d(ctx):
    """faq_then_cancel_30d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def faq_then_cancel_90d(ctx):
    """faq_then_cancel_90d."""
    raise NotImplementedError


@register(family="web_journey", reason="visited the FAQ and the cancel page")
def days_since_last_cancel_page(ctx):
    """days_since_last_cancel_page."""
    raise NotImplementedError
