"""What a feature builder sees: the events strictly before one cutoff, and helpers over them.

Every source here is cut at `ts < cutoff` and `ts >= cutoff - lookback` before any builder runs,
so no builder can reach an event at or after its cutoff. Time arithmetic is in epoch seconds,
which DuckDB and Spark compute identically (interval and date-difference functions do not).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from features.contract import EVENTS, UTC, as_utc

if TYPE_CHECKING:
    # Type only: the config validates builder names through the registry, which imports the
    # family modules and so this one; a runtime import would close that cycle.
    from features.config import Config

SECONDS_PER_DAY = 86_400
# A cancel-page visit within this many seconds after an FAQ visit counts as FAQ-then-cancel,
# even across sessions (a user who opens a new tab starts a new session).
FAQ_THEN_CANCEL_SECONDS = 30 * 60


def timestamp_literal(moment: pd.Timestamp) -> ibis.Scalar:
    """A UTC timestamp literal both engines compare with `timestamp[UTC]` columns."""
    return ibis.literal(as_utc(moment).to_pydatetime(), type=dt.Timestamp(timezone=UTC))


def epoch_seconds(moment: pd.Timestamp) -> int:
    """Whole seconds since 1970 of a UTC timestamp."""
    return int(pd.Timestamp(moment).timestamp())


def whole_epoch_seconds(column: ibis.TimestampValue) -> ibis.IntegerValue:
    """Seconds since 1970, floored, so an event 0.6 s before the cutoff stays 1 s before it
    (DuckDB's epoch is fractional and a cast would round it up to 0). Flooring the number is
    ~4x cheaper per row than truncating the timestamp first."""
    return column.epoch_seconds().floor().cast("int64")


@dataclass(frozen=True)
class FeatureContext:
    """The inputs of every builder for one cutoff."""

    cutoff: pd.Timestamp
    raw_events: ibis.Table
    raw_customers: ibis.Table
    cfg: Config

    @property
    def cutoff_s(self) -> int:
        return epoch_seconds(self.cutoff)

    @cached_property
    def events(self) -> ibis.Table:
        """Events in `[cutoff - lookback, cutoff)` with `age_s`, seconds before the cutoff (> 0)."""
        lookback = pd.Timedelta(days=self.cfg.snapshots.lookback_days)
        events = self.raw_events.filter(
            self.raw_events.ts < timestamp_literal(self.cutoff),
            self.raw_events.ts >= timestamp_literal(self.cutoff - lookback),
        )
        ts_s = whole_epoch_seconds(events.ts)
        # Optional contract columns a dataset lacks are typed nulls, so every builder reads them
        # (no session: no FAQ-then-cancel in one session; no value: no revenue).
        missing = {
            column.name: ibis.null(ibis.dtype(column.type))
            for column in EVENTS.columns
            if not column.required and column.name not in events.columns
        }
        return events.mutate(
            ts_s=ts_s, age_s=ibis.literal(self.cutoff_s, "int64") - ts_s, **missing
        )

    @cached_property
    def customers(self) -> ibis.Table:
        """Customers who signed up before the cutoff, with `tenure_s` in seconds."""
        customers = self.raw_customers.filter(
            self.raw_customers.signup_at < timestamp_literal(self.cutoff)
        )
        signup_s = whole_epoch_seconds(customers.signup_at)
        return customers.mutate(tenure_s=ibis.literal(self.cutoff_s, "int64") - signup_s)

    def names(self, signal: str) -> list[str]:
        """The event names mapped to a signal in config (empty: the family yields nothing)."""
        return list(getattr(self.cfg.signals, signal))

    def is_signal(self, signal: str, table: ibis.Table | None = None) -> ibis.BooleanValue:
        table = self.events if table is None else table
        return table.event.isin(self.names(signal))

    def within(self, days: int, table: ibis.Table | None = None) -> ibis.BooleanValue:
        """The event is in `[cutoff - days, cutoff)`."""
        table = self.events if table is None else table
        return table.age_s <= days * SECONDS_PER_DAY

    def count(self, signal: str, days: int) -> ibis.Value | None:
        """How many `signal` events in the last `days` days."""
        if not self.names(signal):
            return None
        return (self.is_signal(signal) & self.within(days)).sum().cast("float64")

    def days_since_last(self, signal: str) -> ibis.Value | None:
        """Days from the latest `signal` event to the cutoff; missing if none in the lookback."""
        if not self.names(signal):
            return None
        age = ibis.cases((self.is_signal(signal), self.events.age_s), else_=None)
        return age.min().cast("float64") / SECONDS_PER_DAY

    def active_days(self, first_day: int, last_day: int) -> ibis.Value | None:
        """Distinct days with activity in `[cutoff - last_day, cutoff - first_day)`; a reduction
        over `activity_days`, so all active-day builders share one distinct pass."""
        if not self.names("activity"):
            return None
        day = self.activity_days.day
        return ((day >= first_day) & (day < last_day)).sum().cast("float64")

    @cached_property
    def activity_days(self) -> ibis.Table:
        """One row per customer and day with activity; day 0 is the 24 hours before the cutoff
        (with midnight cutoffs, calendar days)."""
        events = self.events.filter(self.is_signal("activity"))
        return events.select("customer_id", day=(events.age_s - 1) // SECONDS_PER_DAY).distinct()

    @cached_property
    def web_sequences(self) -> ibis.Table:
        """FAQ and cancel-page views, each with the time of the latest FAQ view at or before it
        (`last_faq_s`) and whether its session saw an FAQ view at or before it."""
        events = self.events.filter(
            self.events.event.isin(self.names("faq_page") + self.names("cancel_page"))
        )
        is_faq = events.event.isin(self.names("faq_page"))
        # RANGE frames include rows with the same timestamp, so ties resolve the same way on
        # every engine: an FAQ view in the same second as a cancel view counts as before it.
        by_customer = ibis.window(group_by="customer_id", order_by="ts_s", range=(None, 0))
        by_session = ibis.window(
            group_by=["customer_id", "session_id"], order_by="ts_s", range=(None, 0)
        )
        return events.mutate(
            is_faq=is_faq,
            last_faq_s=ibis.cases((is_faq, events.ts_s), else_=None).max().over(by_customer),
            session_faqs=is_faq.cast("int64").sum().over(by_session),
        )

    @cached_property
    def emails(self) -> ibis.Table:
        """Email sends and opens, each with the time of the customer's latest open."""
        sent, opened = self.names("email_sent"), self.names("email_open")
        events = self.events.filter(self.events.event.isin(sent + opened))
        is_open = events.event.isin(opened)
        everything = ibis.window(group_by="customer_id")
        return events.mutate(
            is_sent=events.event.isin(sent),
            is_open=is_open,
            last_open_s=ibis.cases((is_open, events.ts_s), else_=None).max().over(everything),
        )
