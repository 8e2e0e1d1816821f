"""Activity: recency of use and active days, and whether use is fading."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.registry import register


@register(
    family="activity",
    reason="was last active {days_ago}",
    missing=None,
    label="days since last activity",
    missing_reason="has not been active in the last {lookback}",
)
def days_since_last_activity(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest activity event; missing if none in the lookback."""
    return ctx.days_since_last("activity")


@register(
    family="activity",
    reason="was active on only {n:day|days} of the last 7",
    source="activity_days",
    label="active days in the last 7 days",
    zero_reason="was not active in the last 7 days",
)
def active_days_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 7 before the cutoff."""
    return ctx.active_days(0, 7)


@register(
    family="activity",
    reason="was active on only {n:day|days} of the last 30",
    source="activity_days",
    label="active days in the last 30 days",
    zero_reason="was not active in the last 30 days",
)
def active_days_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 30 before the cutoff."""
    return ctx.active_days(0, 30)


@register(
    family="activity",
    reason="was active on only {n:day|days} of the last 90",
    source="activity_days",
    label="active days in the last 90 days",
    zero_reason="was not active in the last 90 days",
)
def active_days_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 90 before the cutoff."""
    return ctx.active_days(0, 90)


@register(
    family="activity",
    reason="active days this month changed by {value:+.1f} against the two months before",
    source="activity_days",
    label="change in monthly active days",
    zero_reason="was active as often this month as in the two months before",
)
def activity_trend_30d_vs_60d(ctx: FeatureContext) -> ibis.Value | None:
    """Active days in the last 30 days minus the monthly average of the 60 days before."""
    recent = ctx.active_days(0, 30)
    if recent is None:
        return None
    return recent - ctx.active_days(30, 90) / 2


@register(
    family="activity",
    reason="has been inactive for {value:.0%} of the time since their first activity",
    missing=None,
    label="share of time inactive since first activity",
    missing_reason="has not been active in the last {lookback}",
)
def activity_recency_share(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest activity over days since the first, in the lookback; missing if none.

    Recency relative to the customer's own history: 0.9 means the same for a customer first seen
    three months or a year ago, so it carries over to a cohort older than the training cutoffs
    (days since last activity alone does not: an older cohort has recencies training never saw).
    """
    if not ctx.names("activity"):
        return None
    latest, earliest = ctx.latest_age_s("activity"), ctx.earliest_age_s("activity")
    return latest.cast("float64") / earliest.cast("float64")
