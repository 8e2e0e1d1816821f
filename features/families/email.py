"""Email: marketing sends, opens, and the run of unopened emails since the last open."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.registry import register


def _has_email(ctx: FeatureContext) -> bool:
    return bool(ctx.names("email_sent") and ctx.names("email_open"))


@register(
    family="email",
    reason="received {n:marketing email|marketing emails} this month",
    label="marketing emails received in the last 30 days",
    zero_reason="received no marketing emails this month",
)
def emails_sent_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Marketing emails sent in the 30 days before the cutoff."""
    return ctx.count("email_sent", 30)


@register(
    family="email",
    reason="opened only {n:marketing email|marketing emails} this month",
    label="marketing emails opened in the last 30 days",
    zero_reason="opened no marketing emails this month",
)
def emails_opened_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Marketing emails opened in the 30 days before the cutoff."""
    return ctx.count("email_open", 30)


@register(
    family="email",
    reason="opened {value:.0%} of this month's marketing emails",
    missing=None,
    label="email open rate in the last 30 days",
    missing_reason="was sent no marketing emails this month",
    zero_reason="opened none of this month's marketing emails",
)
def email_open_rate_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Opens over sends in the 30 days before the cutoff; missing when nothing was sent."""
    if not _has_email(ctx):
        return None
    return ctx.count("email_open", 30) / ctx.count("email_sent", 30).nullif(0)


@register(
    family="email",
    reason="has {n:unopened marketing email|unopened marketing emails} since the last open",
    source="emails",
    label="unopened marketing emails since the last open",
    zero_reason="left no marketing email unopened since the last open",
)
def unopened_email_streak(ctx: FeatureContext) -> ibis.Value | None:
    """Emails sent after the latest open (all sends in the lookback if never opened)."""
    if not _has_email(ctx):
        return None
    return ctx.emails.unopened.sum().cast("float64")


@register(
    family="email",
    reason="last opened a marketing email {days_ago}",
    missing=None,
    label="days since last email open",
    missing_reason="has not opened a marketing email in the last {lookback}",
)
def days_since_last_email_open(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest email open; missing if none in the lookback."""
    return ctx.days_since_last("email_open")
