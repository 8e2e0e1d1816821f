"""What a feature builder sees: the events strictly before one cutoff, and helpers over them.

The events of every cutoff of a matrix are read in one pass (`SharedEvents`): each event falls in
a *bin*, the span between two consecutive window boundaries (a cutoff minus 7, 30, 37, 90, 365
days or the lookback, or a cutoff itself), and one aggregation per (customer, bin) keeps each
signal's count, first and latest time and payment amount. A window at a cutoff is then a sum over
whole bins, so a cutoff costs a pass over ~10 bins a customer instead of every event. The
FAQ-then-cancel sequence, the unopened-email run and the active days come from one window or
distinct pass each, over the same span, with each row's time kept so every cutoff filters it.

Every source a builder reads is cut at `cutoff - lookback <= time < cutoff` (`FeatureContext`),
so no builder can reach an event at or after its cutoff. Time arithmetic is in whole epoch
seconds, which DuckDB and Spark compute identically (interval functions do not).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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
# Every window (days before the cutoff) a builder may count over, besides the lookback: each is
# a bin boundary, so a count over it sums whole bins. A new window must be added here.
WINDOW_DAYS = (7, 30, 37, 90, 365)
# Signals whose per-bin first and latest event times are kept (recencies and histories).
TIMED_SIGNALS = ("activity", "cancel_page", "support_contact", "email_open", "payment")


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


def day_offset(cutoff: pd.Timestamp) -> int:
    """Seconds past UTC midnight of a cutoff: cutoffs sharing it share day boundaries."""
    return epoch_seconds(cutoff) % SECONDS_PER_DAY


def bin_bounds(cutoffs_s: Sequence[int], lookback_days: int) -> list[int]:
    """The sorted bin boundaries (epoch seconds) of a set of cutoffs: each cutoff and each
    window start before it."""
    windows = {*WINDOW_DAYS, lookback_days}
    starts = {c - days * SECONDS_PER_DAY for c in cutoffs_s for days in windows}
    return sorted(starts | set(cutoffs_s))


class SharedEvents:
    """The event sources of a set of cutoffs sharing one time of day, each built in one pass
    over the events in `[first cutoff - lookback, last cutoff)`.

    `cache=True` materialises each source once (the engine keeps it for every cutoff); a single
    cutoff reads each source once, so it is left to the engine to stream.
    """

    def __init__(
        self, raw_events: ibis.Table, cutoffs: Sequence[pd.Timestamp], cfg: Config, cache: bool
    ) -> None:
        offsets = {day_offset(c) for c in cutoffs}
        if len(offsets) != 1:
            raise ValueError(f"cutoffs must share one time of day, got offsets {offsets}")
        self.cfg = cfg
        self.cutoffs_s = sorted(epoch_seconds(c) for c in cutoffs)
        self.lookback_s = cfg.snapshots.lookback_days * SECONDS_PER_DAY
        self.offset_s = offsets.pop()
        self.cache = cache
        self.raw_events = raw_events

    def names(self, signal: str) -> list[str]:
        """The event names mapped to a signal in config (empty: the family yields nothing)."""
        return list(getattr(self.cfg.signals, signal))

    def _kept(self, table: ibis.Table) -> ibis.Table:
        return table.cache() if self.cache else table

    @cached_property
    def events(self) -> ibis.Table:
        """Events in the span of every cutoff's lookback, with `ts_s`, whole epoch seconds."""
        start = pd.Timestamp(self.cutoffs_s[0] - self.lookback_s, unit="s", tz=UTC)
        end = pd.Timestamp(self.cutoffs_s[-1], unit="s", tz=UTC)
        raw = self.raw_events
        events = raw.filter(raw.ts >= timestamp_literal(start), raw.ts < timestamp_literal(end))
        # Optional contract columns a dataset lacks are typed nulls, so every source reads them
        # (no session: no FAQ-then-cancel in one session; no value: no revenue).
        missing = {
            column.name: ibis.null(ibis.dtype(column.type))
            for column in EVENTS.columns
            if not column.required and column.name not in events.columns
        }
        return events.mutate(ts_s=whole_epoch_seconds(events.ts), **missing)

    @cached_property
    def bins(self) -> ibis.Table:
        """One row per customer and bin with events: `bin_s` (the bin's first second), and per
        mapped signal `n_<signal>`, `first_<signal>`/`last_<signal>` (epoch seconds) and, for
        payments, `value_payment`."""
        events = self.events
        bounds = bin_bounds(self.cutoffs_s, self.cfg.snapshots.lookback_days)
        # Each event's bin: the last boundary at or before it (the first boundary is the span's
        # start, so every event has one).
        bin_s = ibis.cases(
            *((events.ts_s < upper, lower) for lower, upper in itertools.pairwise(bounds)),
            else_=bounds[-1],
        )
        flags = {s: events.event.isin(self.names(s)) for s in type(self.cfg.signals).model_fields}
        flags = {s: flag for s, flag in flags.items() if self.names(s)}
        flagged = events.mutate(bin_s=bin_s, **{f"is_{s}": flag for s, flag in flags.items()})
        metrics: dict[str, ibis.Value] = {}
        for signal in flags:
            hit = flagged[f"is_{signal}"]
            metrics[f"n_{signal}"] = hit.cast("int64").sum()
            if signal in TIMED_SIGNALS:
                timed = ibis.cases((hit, flagged.ts_s), else_=None)
                metrics[f"first_{signal}"] = timed.min()
                metrics[f"last_{signal}"] = timed.max()
        if "payment" in flags:
            paid = ibis.cases((flagged.is_payment, flagged.value.cast("float64")), else_=None)
            metrics["value_payment"] = paid.sum()
        grouped = flagged.filter(ibis.or_(*(flagged[f"is_{s}"] for s in flags)) if flags else False)
        return self._kept(grouped.group_by("customer_id", "bin_s").aggregate(**metrics))

    @cached_property
    def activity_days(self) -> ibis.Table:
        """One row per customer and day with activity, `slot` counting days since 1970 that
        start at the cutoffs' time of day."""
        events = self.events.filter(self.events.event.isin(self.names("activity")))
        slot = (events.ts_s - self.offset_s) // SECONDS_PER_DAY
        return self._kept(events.select("customer_id", slot=slot).distinct())

    @cached_property
    def web_sequences(self) -> ibis.Table:
        """Cancel-page views, each with the latest FAQ view at or before it (`last_faq_s`) and the
        latest in its session (`session_faq_s`). A cutoff keeps an FAQ view only inside its own
        lookback, so it compares these times with the lookback's start."""
        faq, cancel = self.names("faq_page"), self.names("cancel_page")
        events = self.events.filter(self.events.event.isin(faq + cancel))
        is_faq = events.event.isin(faq)
        faq_s = ibis.cases((is_faq, events.ts_s), else_=None)
        # RANGE frames include rows with the same timestamp, so ties resolve the same way on
        # every engine: an FAQ view in the same second as a cancel view counts as before it.
        by_customer = ibis.window(group_by="customer_id", order_by="ts_s", range=(None, 0))
        by_session = ibis.window(
            group_by=["customer_id", "session_id"], order_by="ts_s", range=(None, 0)
        )
        sequenced = events.mutate(
            is_faq=is_faq,
            last_faq_s=faq_s.max().over(by_customer),
            session_faq_s=faq_s.max().over(by_session),
        )
        cancels = sequenced.filter(~sequenced.is_faq)
        return self._kept(
            cancels.select("customer_id", "ts_s", "session_id", "last_faq_s", "session_faq_s")
        )

    @cached_property
    def emails(self) -> ibis.Table:
        """Email sends, each with the first open at or after it (`next_open_s`): a send is
        unopened at a cutoff when that open is missing or not before the cutoff."""
        sent, opened = self.names("email_sent"), self.names("email_open")
        events = self.events.filter(self.events.event.isin(sent + opened))
        is_open = events.event.isin(opened)
        following = ibis.window(group_by="customer_id", order_by="ts_s", range=(0, None))
        open_s = ibis.cases((is_open, events.ts_s), else_=None)
        marked = events.mutate(
            is_sent=events.event.isin(sent), next_open_s=open_s.min().over(following)
        )
        sends = marked.filter(marked.is_sent)
        return self._kept(sends.select("customer_id", "ts_s", "next_open_s"))


@dataclass(frozen=True)
class FeatureContext:
    """The inputs of every builder for one cutoff: the shared sources cut to its lookback."""

    cutoff: pd.Timestamp
    shared: SharedEvents
    raw_customers: ibis.Table
    cfg: Config

    @property
    def cutoff_s(self) -> int:
        return epoch_seconds(self.cutoff)

    @property
    def lookback_start_s(self) -> int:
        return self.cutoff_s - self.cfg.snapshots.lookback_days * SECONDS_PER_DAY

    def _in_lookback(self, table: ibis.Table, column: str) -> ibis.Table:
        time = table[column]
        return table.filter(time >= self.lookback_start_s, time < self.cutoff_s)

    @cached_property
    def events(self) -> ibis.Table:
        """The bins in `[cutoff - lookback, cutoff)` (see `SharedEvents.bins`)."""
        return self._in_lookback(self.shared.bins, "bin_s")

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
        return self.shared.names(signal)

    def within(self, days: int, table: ibis.Table | None = None) -> ibis.BooleanValue:
        """The bin (or, for an event-level source, the event) is in `[cutoff - days, cutoff)`."""
        if table is None:
            if days not in WINDOW_DAYS and days != self.cfg.snapshots.lookback_days:
                raise ValueError(
                    f"window of {days} days is not a bin boundary: add it to WINDOW_DAYS"
                )
            return self.events.bin_s >= self.cutoff_s - days * SECONDS_PER_DAY
        return table.ts_s >= self.cutoff_s - days * SECONDS_PER_DAY

    def count(self, signal: str, days: int) -> ibis.Value | None:
        """How many `signal` events in the last `days` days."""
        if not self.names(signal):
            return None
        return (
            ibis.cases((self.within(days), self.events[f"n_{signal}"]), else_=0)
            .sum()
            .cast("float64")
        )

    def amount(self, signal: str, days: int) -> ibis.Value | None:
        """The summed `value` of `signal` events (payments) in the last `days` days."""
        if not self.names(signal):
            return None
        value = self.events[f"value_{signal}"]
        return ibis.cases((self.within(days), value), else_=0.0).sum().cast("float64")

    def latest_age_s(self, signal: str) -> ibis.Value:
        """Seconds from the latest `signal` event in the lookback to the cutoff."""
        return self.cutoff_s - self.events[f"last_{signal}"].max()

    def earliest_age_s(self, signal: str) -> ibis.Value:
        """Seconds from the earliest `signal` event in the lookback to the cutoff."""
        return self.cutoff_s - self.events[f"first_{signal}"].min()

    def days_since_last(self, signal: str) -> ibis.Value | None:
        """Days from the latest `signal` event to the cutoff; missing if none in the lookback."""
        if not self.names(signal):
            return None
        return self.latest_age_s(signal).cast("float64") / SECONDS_PER_DAY

    def active_days(self, first_day: int, last_day: int) -> ibis.Value | None:
        """Distinct days with activity in `[cutoff - last_day, cutoff - first_day)`; a reduction
        over `activity_days`, so all active-day builders share one distinct pass."""
        if not self.names("activity"):
            return None
        day = self.activity_days.day
        return ((day >= first_day) & (day < last_day)).sum().cast("float64")

    @cached_property
    def activity_days(self) -> ibis.Table:
        """One row per customer and day with activity in the lookback; day 0 is the 24 hours
        before the cutoff (with midnight cutoffs, calendar days)."""
        days = self.shared.activity_days
        cutoff_slot = (self.cutoff_s - self.shared.offset_s) // SECONDS_PER_DAY
        lookback = self.cfg.snapshots.lookback_days
        kept = days.filter(days.slot >= cutoff_slot - lookback, days.slot < cutoff_slot)
        return kept.select("customer_id", day=cutoff_slot - 1 - kept.slot)

    @cached_property
    def web_sequences(self) -> ibis.Table:
        """Cancel-page views in the lookback with `after_faq` (an FAQ view in the lookback up to
        30 minutes before) and `in_faq_session` (an FAQ view in the lookback earlier in the
        session)."""
        views = self._in_lookback(self.shared.web_sequences, "ts_s")
        start = self.lookback_start_s
        after_faq = (views.last_faq_s >= start) & (
            views.ts_s - views.last_faq_s <= FAQ_THEN_CANCEL_SECONDS
        )
        in_session = views.session_id.notnull() & (views.session_faq_s >= start)
        return views.mutate(
            after_faq=after_faq.fill_null(False), in_faq_session=in_session.fill_null(False)
        )

    @cached_property
    def emails(self) -> ibis.Table:
        """Email sends in the lookback with `unopened`: no open from the send to the cutoff."""
        sends = self._in_lookback(self.shared.emails, "ts_s")
        unopened = sends.next_open_s.isnull() | (sends.next_open_s >= self.cutoff_s)
        return sends.mutate(unopened=unopened)
