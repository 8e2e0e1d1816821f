"""Web journey: FAQ and cancel-page visits, and the FAQ-then-cancel sequence that precedes churn."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.registry import register


@register(
    family="web_journey",
    reason="visited the FAQ/help pages {n:time|times} this week",
    label="FAQ/help page visits in the last 7 days",
    zero_reason="did not visit the FAQ/help pages this week",
)
def faq_visits_7d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 7 days before the cutoff."""
    return ctx.count("faq_page", 7)


@register(
    family="web_journey",
    reason="visited the FAQ/help pages {n:time|times} this month",
    label="FAQ/help page visits in the last 30 days",
    zero_reason="did not visit the FAQ/help pages this month",
)
def faq_visits_30d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 30 days before the cutoff."""
    return ctx.count("faq_page", 30)


@register(
    family="web_journey",
    reason="visited the FAQ/help pages {n:time|times} in the last 3 months",
    label="FAQ/help page visits in the last 90 days",
    zero_reason="did not visit the FAQ/help pages in the last 3 months",
)
def faq_visits_90d(ctx: FeatureContext) -> ibis.Value | None:
    """FAQ/help page views in the 90 days before the cutoff."""
    return ctx.count("faq_page", 90)


@register(
    family="web_journey",
    reason="visited the cancel page {n:time|times} this week",
    label="cancel-page visits in the last 7 days",
    zero_reason="did not visit the cancel page this week",
)
def cancel_page_visits_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 7 days before the cutoff."""
    return ctx.count("cancel_page", 7)


@register(
    family="web_journey",
    reason="visited the cancel page {n:time|times} this month",
    label="cancel-page visits in the last 30 days",
    zero_reason="did not visit the cancel page this month",
)
def cancel_page_visits_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 30 days before the cutoff."""
    return ctx.count("cancel_page", 30)


@register(
    family="web_journey",
    reason="visited the cancel page {n:time|times} in the last 3 months",
    label="cancel-page visits in the last 90 days",
    zero_reason="did not visit the cancel page in the last 3 months",
)
def cancel_page_visits_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in the 90 days before the cutoff."""
    return ctx.count("cancel_page", 90)


def _faq_then_cancel(ctx: FeatureContext, days: int) -> ibis.Value | None:
    if not (ctx.names("faq_page") and ctx.names("cancel_page")):
        return None
    views = ctx.web_sequences
    return (
        ibis.cases((ctx.within(days, views), views.faq_then_cancel), else_=0).sum().cast("float64")
    )


@register(
    family="web_journey",
    reason="went to the cancel page right after the FAQ {n:time|times} this month",
    source="web_sequences",
    label="FAQ-then-cancel visits in the last 30 days",
    zero_reason="did not go from the FAQ to the cancel page this month",
)
def faq_then_cancel_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in an FAQ session or up to 30 minutes after an FAQ view (30 days)."""
    return _faq_then_cancel(ctx, 30)


@register(
    family="web_journey",
    reason="went to the cancel page right after the FAQ {n:time|times} in the last 3 months",
    source="web_sequences",
    label="FAQ-then-cancel visits in the last 90 days",
    zero_reason="did not go from the FAQ to the cancel page in the last 3 months",
)
def faq_then_cancel_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Cancel-page views in an FAQ session or up to 30 minutes after an FAQ view (90 days)."""
    return _faq_then_cancel(ctx, 90)


@register(
    family="web_journey",
    reason="visited the cancel page {days_ago}",
    missing=None,
    label="days since last cancel-page visit",
    missing_reason="has not visited the cancel page in the last {lookback}",
)
def days_since_last_cancel_page(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest cancel-page view; missing if none in the lookback."""
    return ctx.days_since_last("cancel_page")
