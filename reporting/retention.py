"""Retention KPIs by calendar month (UTC): churn rate, retention rate, revenue churn, cohorts.

Pure functions of two small frames, so they are checked by hand on a few customers:

- lifetimes: `customer_id`, `signup_at`, `churned_at` (NaT while still a customer), UTC;
- revenue: `customer_id`, `month` (first day of the month, UTC), `revenue` (that month's sum).

`lifetimes_and_revenue` derives both from a dataset's lazy tables (the engine does the work).

A customer counts from `signup_at` and is lost at `churned_at` (half-open: a customer lost exactly
at midnight on the 1st is lost in the month that starts then). Only complete months, ending on
or before `until`, are reported, so the latest month never looks better for being half observed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import Config
from features.contract import UTC, series_as_naive_utc

KPI_COLUMNS = ("churn_rate", "retention_rate", "revenue_churn")


def month_start(moments: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """The first instant (UTC) of each timestamp's calendar month."""
    series = pd.Series(moments)
    naive = series_as_naive_utc(series)
    return naive.dt.to_period("M").dt.to_timestamp().dt.tz_localize(UTC)


def complete_months(first: pd.Timestamp, until: pd.Timestamp) -> pd.DatetimeIndex:
    """Starts of the months from `first`'s month whose last day ends on or before `until`."""
    start = month_start(pd.Series([first])).iloc[0]
    months = pd.date_range(start, until, freq="MS", tz="UTC", inclusive="left")
    return months[months + pd.offsets.MonthBegin(1) <= until]


def _counts(lifetimes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, int]:
    """Customers at start, new, lost (of those at start) and at end of `[start, end)`."""
    signup = lifetimes["signup_at"]
    churned = lifetimes["churned_at"]
    alive_at = {
        moment: (signup < moment) & (churned.isna() | (churned >= moment))
        for moment in (start, end)
    }
    at_start = alive_at[start]
    return {
        "customers_start": int(at_start.sum()),
        "new_customers": int(((signup >= start) & (signup < end)).sum()),
        "lost_customers": int((at_start & (churned >= start) & (churned < end)).sum()),
        "customers_end": int(alive_at[end].sum()),
    }


def _revenue_lost(
    lifetimes: pd.DataFrame, revenue: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[float, float]:
    """Last month's revenue of the customers at `start`, and of those of them lost by `end`."""
    previous = start - pd.offsets.MonthBegin(1)
    last_month = revenue.loc[revenue["month"] == previous].groupby("customer_id")["revenue"].sum()
    signup = lifetimes["signup_at"]
    churned = lifetimes["churned_at"]
    at_start = (signup < start) & (churned.isna() | (churned >= start))
    lost = at_start & (churned >= start) & (churned < end)
    ids = lifetimes["customer_id"]
    base = float(last_month.reindex(ids[at_start]).fillna(0.0).sum())
    gone = float(last_month.reindex(ids[lost]).fillna(0.0).sum())
    return base, gone


def monthly_kpis(
    lifetimes: pd.DataFrame,
    revenue: pd.DataFrame,
    until: pd.Timestamp,
    first: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per complete month: counts, churn and retention rates, revenue churn (percent).

    churn_rate = lost / customers at start x 100 (lost counts only customers there at the start);
    retention_rate = (customers at end - new customers) / customers at start x 100;
    revenue_churn = last month's revenue of the customers lost this month / last month's revenue
    of all customers at the start x 100.
    """
    first = first if first is not None else lifetimes["signup_at"].min()
    rows = []
    for start in complete_months(first, until):
        end = start + pd.offsets.MonthBegin(1)
        counts = _counts(lifetimes, start, end)
        base, gone = _revenue_lost(lifetimes, revenue, start, end)
        rows.append({"month": start, **counts, "revenue_start": base, "revenue_lost": gone})
    frame = pd.DataFrame(
        rows,
        columns=[
            "month",
            "customers_start",
            "new_customers",
            "lost_customers",
            "customers_end",
            "revenue_start",
            "revenue_lost",
        ],
    )
    start_count = frame["customers_start"].where(frame["customers_start"] > 0)
    frame["churn_rate"] = frame["lost_customers"] / start_count * 100
    frame["retention_rate"] = (frame["customers_end"] - frame["new_customers"]) / start_count * 100
    frame["revenue_churn"] = (
        frame["revenue_lost"] / frame["revenue_start"].where(frame["revenue_start"] > 0) * 100
    )
    return frame


def compare_periods(values: pd.Series) -> pd.DataFrame:
    """A monthly series beside the previous month and the same month a year before.

    `values` is indexed by month start; a comparison is NaN where the data does not reach back.
    Changes are differences in the series' own unit (percentage points for rates).
    """
    index = pd.DatetimeIndex(values.index)
    previous = values.reindex(index - pd.DateOffset(months=1)).to_numpy()
    year_ago = values.reindex(index - pd.DateOffset(years=1)).to_numpy()
    current = values.to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "value": current,
            "previous_month": previous,
            "change_vs_previous_month": current - previous,
            "same_month_last_year": year_ago,
            "change_vs_last_year": current - year_ago,
        },
        index=index.rename("month"),
    )


def cohort_retention(
    lifetimes: pd.DataFrame, until: pd.Timestamp, max_months: int = 12
) -> pd.DataFrame:
    """Percent of each signup-month cohort still a customer at the end of month k after signup.

    Rows are signup months (with the cohort size in `customers`), columns 0..max_months; month 0
    ends with the signup month. Cells whose month has not ended by `until` are NaN.
    """
    cohort = month_start(lifetimes["signup_at"])
    churned = lifetimes["churned_at"]
    rows = {}
    for start in sorted(cohort.unique()):
        members = (cohort == start).to_numpy()
        row: dict[str | int, float] = {"customers": float(members.sum())}
        for k in range(max_months + 1):
            end = pd.Timestamp(start) + pd.DateOffset(months=k + 1)
            if end > until:
                row[k] = np.nan
                continue
            still = members & (churned.isna() | (churned >= end)).to_numpy()
            row[k] = still.sum() / members.sum() * 100
        rows[pd.Timestamp(start)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.DatetimeIndex(table.index, name="cohort")
    return table


def lifetimes_and_revenue(
    dataset, cfg: Config, as_of: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Customer lifetimes (signup, churn moment) and monthly revenue, read from the dataset as
    it stood before `as_of` (a report of a past night shows nothing that came after it)."""
    from features.context import timestamp_literal
    from features.snapshots import observed_until

    until = observed_until(dataset, cfg)
    customers, events = dataset.customers, dataset.events
    if as_of is not None:
        until = min(until, as_of)
        customers = customers.filter(customers.signup_at < timestamp_literal(as_of))
        events = events.filter(events.ts < timestamp_literal(as_of))
    customers = customers.select("customer_id", "signup_at").to_pandas()
    if cfg.churn.source == "events":
        lost = events.filter(events.event.isin(cfg.churn.events))
        lost = lost.group_by("customer_id").aggregate(churned_at=lost.ts.min()).to_pandas()
    else:
        # Non-contractual: lost when the inactivity window after the last activity runs out.
        active = events.filter(events.event.isin(cfg.signals.activity))
        last = active.group_by("customer_id").aggregate(last=active.ts.max()).to_pandas()
        lapse = last["last"] + pd.Timedelta(days=int(cfg.churn.inactive_days or 0))
        lost = pd.DataFrame(
            {"customer_id": last["customer_id"], "churned_at": lapse.where(lapse < until)}
        )
    lifetimes = customers.merge(lost, on="customer_id", how="left")
    lifetimes["churned_at"] = pd.to_datetime(lifetimes["churned_at"], utc=True)
    lifetimes["signup_at"] = pd.to_datetime(lifetimes["signup_at"], utc=True)
    revenue = pd.DataFrame(columns=["customer_id", "month", "revenue"])
    if cfg.signals.payment and "value" in events.columns:
        paid = events.filter(events.event.isin(cfg.signals.payment))
        monthly = (
            paid.group_by("customer_id", year=paid.ts.year(), month=paid.ts.month())
            .aggregate(revenue=paid.value.sum())
            .to_pandas()
        )
        revenue = pd.DataFrame(
            {
                "customer_id": monthly["customer_id"],
                "month": pd.to_datetime(
                    {"year": monthly["year"], "month": monthly["month"], "day": 1}, utc=True
                ),
                "revenue": monthly["revenue"].astype("float64"),
            }
        )
    return lifetimes, revenue, until
