"""Activity: recency of use and active days, and whether use is fading."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.registry import register


@register(family="activity", reason="has not been active for {value:.0f} days", missing=None)
def days_since_last_activity(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest activity event; missing if none in the lookback."""
    return ctx.days_since_last("activity")


@register(
    family="activity",
    reason="was active on only {value:.0f} of the last 7 days",
    source="activity_days",
)
def active_days_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 7 before the cutoff."""
    return ctx.active_days(0, 7)


@register(
    family="activity",
    reason="was active on only {value:.0f} of the last 30 days",
    source="activity_days",
)
def active_days_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 30 before the cutoff."""
    return ctx.active_days(0, 30)


@register(
    family="activity",
    reason="was active on only {value:.0f} of the last 90 days",
    source="activity_days",
)
def active_days_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Distinct days with activity among the 90 before the cutoff."""
    return ctx.active_days(0, 90)


@register(
    family="activity",
    reason="active days a month changed by {value:+.0f} against the two months before",
    source="activity_days",
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
)
def activity_recency_share(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest activity over days since the first, in the lookback; missing if none.

    Recency relative to the customer's own history: 0.9 means the same for a customer first seen
    three months or a year ago, so it carries over to a cohort older than the training cutoffs
    (days since last activity alone does not: an older cohort has recencies training never saw).
    """
    if not ctx.names("activity"):
        return None
    age = ibis.cases((ctx.is_signal("activity"), ctx.events.age_s), else_=None)
    return age.min().cast("float64") / age.max().cast("float64")
