"""Value: what the customer pays and how long they have stayed (recency, frequency, monetary)."""

from __future__ import annotations

import ibis

from features.context import SECONDS_PER_DAY, FeatureContext
from features.registry import register

PLAN_PRICE_COLUMN = "plan_price"
DAYS_PER_MONTH = 30.4375


def _revenue(ctx: FeatureContext, days: int) -> ibis.Value | None:
    return ctx.amount("payment", days)


@register(
    family="value",
    reason="paid {money} in the last 30 days",
    label="revenue in the last 30 days",
    zero_reason="paid nothing in the last 30 days",
)
def revenue_30d(ctx: FeatureContext) -> ibis.Value | None:
    """Sum of payments in the 30 days before the cutoff."""
    return _revenue(ctx, 30)


@register(
    family="value",
    reason="paid {money} in the last 90 days",
    label="revenue in the last 90 days",
    zero_reason="paid nothing in the last 90 days",
)
def revenue_90d(ctx: FeatureContext) -> ibis.Value | None:
    """Sum of payments in the 90 days before the cutoff."""
    return _revenue(ctx, 90)


@register(
    family="value",
    reason="paid {money} in the last year",
    label="revenue in the last year",
    zero_reason="paid nothing in the last year",
)
def revenue_365d(ctx: FeatureContext) -> ibis.Value | None:
    """Sum of payments in the 365 days before the cutoff."""
    return _revenue(ctx, 365)


@register(
    family="value",
    reason="made {n:payment|payments} in the last year",
    label="payments in the last year",
    zero_reason="made no payments in the last year",
)
def purchases_365d(ctx: FeatureContext) -> ibis.Value | None:
    """Number of payments in the 365 days before the cutoff."""
    return ctx.count("payment", 365)


@register(
    family="value",
    reason="spends {money} per payment on average",
    missing=None,
    label="average payment in the last year",
    missing_reason="made no payments in the last year",
)
def average_order_value_365d(ctx: FeatureContext) -> ibis.Value | None:
    """Average payment over the 365 days before the cutoff; missing without payments."""
    revenue = _revenue(ctx, 365)
    if revenue is None:
        return None
    return revenue / ctx.count("payment", 365).nullif(0)


def _per_month(ctx: FeatureContext, total: ibis.Value | None) -> ibis.Value | None:
    """`total` over the months since the first payment in the lookback (at least one month)."""
    if total is None:
        return None
    first_s = ctx.earliest_age_s("payment")
    months = ibis.greatest(first_s.cast("float64") / (SECONDS_PER_DAY * DAYS_PER_MONTH), 1.0)
    return total / months


@register(
    family="value",
    reason="pays only {value:.1f} times a month",
    label="payments per month",
    zero_reason="made no payments in the last {lookback}",
)
def purchases_per_month(ctx: FeatureContext) -> ibis.Value | None:
    """Payments in the lookback per month since the first of them (at least one month).

    A rate, unlike a count over a fixed window, means the same for young and old customers.
    """
    return _per_month(ctx, ctx.count("payment", ctx.cfg.snapshots.lookback_days))


@register(
    family="value",
    reason="spends only {money} a month",
    label="revenue per month",
    zero_reason="paid nothing in the last {lookback}",
)
def revenue_per_month(ctx: FeatureContext) -> ibis.Value | None:
    """Payments' value in the lookback per month since the first of them (at least one month)."""
    return _per_month(ctx, _revenue(ctx, ctx.cfg.snapshots.lookback_days))


@register(
    family="value",
    reason="signed up only {days_ago}",
    source="customers",
    label="days since signup",
)
def tenure_days(ctx: FeatureContext) -> ibis.Value:
    """Days from signup to the cutoff."""
    return ctx.customers.tenure_s.cast("float64") / SECONDS_PER_DAY


@register(
    family="value",
    reason="pays {money} a month for the plan",
    source="customers",
    missing=None,
    label="monthly plan price",
    missing_reason="has no plan price on record",
    zero_reason="is on a free plan",
)
def plan_price(ctx: FeatureContext) -> ibis.Value | None:
    """The monthly price of the customer's plan (customers.plan_price), if the data has it."""
    if PLAN_PRICE_COLUMN not in ctx.customers.columns:
        return None
    return ctx.customers[PLAN_PRICE_COLUMN].cast("float64")
