"""Web journey: FAQ and cancel-page visits, and the FAQ-then-cancel sequence that precedes churn."""

from __future__ import annotations

import ibis

from features.context import FAQ_THEN_CANCEL_SECONDS, FeatureContext
from features.registry import register


@register(family="web_journey", reason="visited the FAQ/help pages {value:.0f} times this week")
def faq_visits_7d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 7 days before the cutoff."""
    return ctx.count("faq_page", 7)


@register(family="web_journey", reason="visited the FAQ/help pages {value:.0f} times this month")
def faq_visits_30d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 30 days before the cutoff."""
    return ctx.count("faq_page", 30)


@register(family="web_journey", reason="visited the FAQ/help pages {value:.0f} times in 3 months")
def faq_visits_90d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 90 days before the cutoff."""
    return ctx.count("faq_page", 90)


@register(family="web_journey", reason="visited the cancel page {value:.0f} times this week")
def cancel_page_visits_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 7 days before the cutoff."""
    return ctx.count("cancel_page", 7)


@register(family="web_journey", reason="visited the cancel page {value:.0f} times this month")
def cancel_page_visits_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 30 days before the cutoff."""
    return ctx.count("cancel_page", 30)


@register(family="web_journey", reason="visited the cancel page {value:.0f} times in 3 months")
def cancel_page_visits_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 90 days before the cutoff."""
    return ctx.count("cancel_page", 90)


def _faq_then_cancel(ctx: FeatureContext, days: int) -> ibis.Value | None:
    if not (ctx.names("faq_page") and ctx.names("cancel_page")):
        return None
    seq = ctx.web_sequences
    after_faq = (seq.ts_s - seq.last_faq_s) <= FAQ_THEN_CANCEL_SECONDS
    same_session = seq.session_id.notnull() & (seq.session_faqs > 0)
    hit = ~seq.is_faq & ctx.within(days, seq) & (after_faq.fill_null(False) | same_session)
    return hit.sum().cast("float64")


@register(
    family="web_journey",
    reason="went to the cancel page right after the FAQ {value:.0f} times this month",
    source="web_sequences",
)
def faq_then_cancel_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in an FAQ session or up to 30 minutes after an FAQ view (30 days)."""
    return _faq_then_cancel(ctx, 30)


@register(
    family="web_journey",
    reason="went to the cancel page right after the FAQ {value:.0f} times in 3 months",
    source="web_sequences",
)
def faq_then_cancel_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in an FAQ session or up to 30 minutes after an FAQ view (90 days)."""
    return _faq_then_cancel(ctx, 90)


@register(family="web_journey", reason="visited the cancel page {value:.0f} days ago", missing=None)
def days_since_last_cancel_page(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest cancel-page view; missing if none in the lookback."""
    return ctx.days_since_last("cancel_page")
