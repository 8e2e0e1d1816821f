"""Support: contacts with the support desk, and a spike against the customer's own usual rate."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.registry import register


@register(
    family="support",
    reason="contacted support {n:time|times} this week",
    label="support contacts in the last 7 days",
    zero_reason="did not contact support this week",
)
def support_contacts_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Support calls and chats in the 7 days before the cutoff."""
    return ctx.count("support_contact", 7)


@register(
    family="support",
    reason="contacted support {n:time|times} this month",
    label="support contacts in the last 30 days",
    zero_reason="did not contact support this month",
)
def support_contacts_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Support calls and chats in the 30 days before the cutoff."""
    return ctx.count("support_contact", 30)


@register(
    family="support",
    reason="contacted support {n:time|times} in the last 3 months",
    label="support contacts in the last 90 days",
    zero_reason="did not contact support in the last 3 months",
)
def support_contacts_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Support calls and chats in the 90 days before the cutoff."""
    return ctx.count("support_contact", 90)


@register(
    family="support",
    reason="contacted support at {value:.1f}x their usual rate this week",
    label="support contact rate this week against usual",
    zero_reason="did not contact support this week",
)
def support_spike_ratio_7d(ctx: FeatureContext) -> ibis.Value | None:
    """Daily contact rate of the last 7 days over that of the 30 days before (+1 smoothed)."""
    last_7d = ctx.count("support_contact", 7)
    if last_7d is None:
        return None
    last_37d = ctx.count("support_contact", 37)
    # The +1 keeps customers with no earlier contact finite: 2 calls this week after a quiet
    # month reads as a spike of 2/7 / (1/30) = 8.6, not infinity.
    return (last_7d / 7) / ((last_37d - last_7d + 1) / 30)


@register(
    family="support",
    reason="contacted support {days_ago}",
    missing=None,
    label="days since last support contact",
    missing_reason="has not contacted support in the last {lookback}",
)
def days_since_last_support_contact(ctx: FeatureContext) -> ibis.Value | None:
    """Days since the latest support call or chat; missing if none in the lookback."""
    return ctx.days_since_last("support_contact")
