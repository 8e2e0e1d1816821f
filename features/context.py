"""What a feature builder sees: the events strictly before one cutoff, and helpers over them.

The events of every cutoff of a matrix are read in shared passes (`SharedEvents`): each event
falls in a *bin*, the span between two consecutive window boundaries (a cutoff, or a cutoff minus
a window the builders count over or the lookback: 7, 30, 37, 90 and 365 days for the default
builders), and one aggregation per (customer, bin) keeps each signal's count, first and latest
time and payment amount. A window at a cutoff is then a sum over whole bins, so a cutoff costs a
pass over ~10 bins a customer instead of every event. The FAQ-then-cancel sequence, the
unopened-email run and the active days come from one window or distinct pass each over the same
span, binned too, keeping the bin of the FAQ view or open that decides, so each cutoff still
applies its own lookback exactly.

Every source a builder reads is cut at `cutoff - lookback <= time < cutoff` (`FeatureContext`),
so no builder can reach an event at or after its cutoff. Time arithmetic is in whole epoch
seconds, which DuckDB and Spark compute identically (interval functions do not).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
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
# Amounts are summed as decimals with this many places (see `bin_metric`).
AMOUNT_DECIMALS = 9


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


def bin_bounds(cutoffs_s: Sequence[int], windows: Collection[int]) -> list[int]:
    """The sorted bin boundaries (epoch seconds) of a set of cutoffs: each cutoff and each
    window start before it."""
    starts = {c - days * SECONDS_PER_DAY for c in cutoffs_s for days in windows}
    return sorted(starts | set(cutoffs_s))


BIN_METRICS = ("n", "first", "last", "value")


def bin_metric(events: ibis.Table, kind: str, hit: ibis.BooleanValue) -> ibis.Value:
    """One per-bin aggregate over the events where `hit`: their count, first or latest time
    (epoch seconds), or summed value (a decimal sum is exact: the same bits on every engine and
    in any order of summing)."""
    if kind == "n":
        return events.count(where=hit)
    if kind == "first":
        return events.ts_s.min(where=hit)
    if kind == "last":
        return events.ts_s.max(where=hit)
    # Only amounts that are numbers become decimals (a NaN or infinite one is no amount).
    value = events.value.cast("float64")
    usable = hit & value.notnull() & ~value.isnan() & ~value.isinf()
    return ibis.cases((usable, value.cast(dt.Decimal(38, AMOUNT_DECIMALS))), else_=None).sum()


class SharedEvents:
    """The event sources of a set of cutoffs sharing one time of day, each built in one pass
    over the events in `[first cutoff - lookback, last cutoff)`.

    `windows` are the days before a cutoff the builders count over (found by
    `features.matrix.dry_run`), each a bin boundary, and `columns` the bin columns they read.
    With them, each source is materialised once and kept by the engine for every cutoff (even
    for one cutoff, four small queries run faster than one plan joining them: 1M world, nightly
    features 40 s -> 33 s). Without them (the dry run), sources are only expressions, never
    run, and what the builders ask for is recorded in `requested` and `requested_columns`.
    """

    def __init__(
        self,
        raw_events: ibis.Table,
        cutoffs: Sequence[pd.Timestamp],
        cfg: Config,
        windows: Collection[int] | None = None,
        columns: Collection[str] | None = None,
    ) -> None:
        fractional = [c for c in cutoffs if pd.Timestamp(c).value % 1_000_000_000]
        if fractional:
            raise ValueError(
                f"cutoff {fractional[0]} has a fraction of a second: features count whole "
                "seconds, so cutoffs (label as_of times) must be whole seconds"
            )
        offsets = {day_offset(c) for c in cutoffs}
        if len(offsets) != 1:
            raise ValueError(f"cutoffs must share one time of day, got offsets {offsets}")
        self.cfg = cfg
        self.cutoffs_s = sorted(epoch_seconds(c) for c in cutoffs)
        self.lookback_s = cfg.snapshots.lookback_days * SECONDS_PER_DAY
        self.offset_s = offsets.pop()
        self.raw_events = raw_events
        self.windows = None if windows is None else frozenset(windows)
        self.columns = None if columns is None else frozenset(columns)
        self.requested: set[int] = set()
        self.requested_columns: set[str] = set()
        self._cached: list[ibis.Table] = []

    def names(self, signal: str) -> list[str]:
        """The event names mapped to a signal in config (empty: the family yields nothing)."""
        return list(getattr(self.cfg.signals, signal))

    def bin_of(self, seconds: ibis.IntegerValue) -> ibis.IntegerValue:
        """The bin of a time in the span: the last boundary at or before it (the first boundary
        is the span's start, so every time in it has one; null stays null)."""
        bounds = bin_bounds(
            self.cutoffs_s, {*(self.windows or ()), self.cfg.snapshots.lookback_days}
        )
        return ibis.cases(
            *((seconds < upper, lower) for lower, upper in itertools.pairwise(bounds)),
            else_=ibis.cases((seconds.notnull(), bounds[-1]), else_=None),
        )

    def _kept(self, table: ibis.Table) -> ibis.Table:
        if self.windows is None:  # the dry run: nothing is run
            return table
        kept = table.cache()
        self._cached.append(kept)
        return kept

    def release(self) -> None:
        """Free what the engine keeps for these sources (the matrix is built)."""
        for table in self._cached:
            table.release()
        self._cached.clear()

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
        bin_s = self.bin_of(events.ts_s)
        signals = [s for s in type(self.cfg.signals).model_fields if self.names(s)]
        # Only what the builders read (`columns`): each aggregate costs time and memory per bin.
        wanted = {
            signal: [
                kind
                for kind in BIN_METRICS
                if (self.columns is None or f"{kind}_{signal}" in self.columns)
                and (kind != "value" or signal == "payment")
            ]
            for signal in signals
        }
        wanted = {signal: kinds for signal, kinds in wanted.items() if kinds}
        flags = {f"is_{s}": events.event.isin(self.names(s)) for s in wanted}
        flagged = events.mutate(bin_s=bin_s, **flags)
        if flags:
            flagged = flagged.filter(ibis.or_(*(flagged[flag] for flag in flags)))
        values = {
            f"{kind}_{signal}": bin_metric(flagged, kind, flagged[f"is_{signal}"])
            for signal, kinds in wanted.items()
            for kind in kinds
        }
        return self._kept(flagged.group_by("customer_id", "bin_s").aggregate(**values))

    @cached_property
    def activity_days(self) -> ibis.Table:
        """Active days by customer and bin (`days`): days start at the cutoffs' time of day, so
        every bin boundary is a day boundary and a day lies in one bin."""
        events = self.events.filter(self.events.event.isin(self.names("activity")))
        day_start = events.ts_s - (events.ts_s - self.offset_s) % SECONDS_PER_DAY
        days = events.select("customer_id", day_start=day_start).distinct()
        binned = days.select("customer_id", bin_s=self.bin_of(days.day_start))
        return self._kept(binned.group_by("customer_id", "bin_s").aggregate(days=binned.count()))

    @cached_property
    def web_sequences(self) -> ibis.Table:
        """Cancel-page views by customer, bin and `faq_bin_s`: the bin of the latest FAQ view that
        makes the view FAQ-then-cancel (up to 30 minutes before it, or earlier in its session),
        null without one. A cutoff counts a view only when that FAQ view is in its lookback too,
        and the lookback's start is a bin boundary, so the bin tells."""
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
        views = events.mutate(
            is_faq=is_faq,
            last_faq_s=faq_s.max().over(by_customer),
            session_faq_s=faq_s.max().over(by_session),
        ).filter(~is_faq)
        recent_faq = ibis.cases(
            (views.ts_s - views.last_faq_s <= FAQ_THEN_CANCEL_SECONDS, views.last_faq_s),
            else_=None,
        )
        session_faq = ibis.cases((views.session_id.notnull(), views.session_faq_s), else_=None)
        qualifying = ibis.greatest(recent_faq.fill_null(-1), session_faq.fill_null(-1))
        binned = views.select(
            "customer_id",
            bin_s=self.bin_of(views.ts_s),
            faq_bin_s=self.bin_of(ibis.cases((qualifying >= 0, qualifying), else_=None)),
        )
        return self._kept(
            binned.group_by("customer_id", "bin_s", "faq_bin_s").aggregate(views=binned.count())
        )

    @cached_property
    def emails(self) -> ibis.Table:
        """Email sends by customer, bin and `open_bin_s`: the bin of the first open at or after
        the send, null without one. A send is unopened at a cutoff when that open is missing or
        not before the cutoff, and the cutoff is a bin boundary, so the bin tells."""
        sent, opened = self.names("email_sent"), self.names("email_open")
        events = self.events.filter(self.events.event.isin(sent + opened))
        is_open = events.event.isin(opened)
        following = ibis.window(group_by="customer_id", order_by="ts_s", range=(0, None))
        open_s = ibis.cases((is_open, events.ts_s), else_=None)
        marked = events.mutate(
            is_sent=events.event.isin(sent), next_open_s=open_s.min().over(following)
        )
        sends = marked.filter(marked.is_sent)
        binned = sends.select(
            "customer_id", bin_s=self.bin_of(sends.ts_s), open_bin_s=self.bin_of(sends.next_open_s)
        )
        return self._kept(
            binned.group_by("customer_id", "bin_s", "open_bin_s").aggregate(sends=binned.count())
        )


@dataclass(frozen=True)
class FeatureContext:
    """The inputs of every builder for one cutoff: the shared sources cut to its lookback."""

    cutoff: pd.Timestamp
    shared: SharedEvents
    raw_customers: ibis.Table
    cfg: Config

    def __post_init__(self) -> None:
        if self.cutoff_s not in self.shared.cutoffs_s:
            # Its windows would not start on bin boundaries.
            raise ValueError(f"cutoff {self.cutoff} is not one of the shared sources' cutoffs")

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

    def _bin_column(self, name: str) -> ibis.Column:
        """A column of `events` (the bins), recorded so the bins hold only what is read."""
        self.shared.requested_columns.add(name)
        return self.events[name]

    def within(self, days: int, table: ibis.Table | None = None) -> ibis.BooleanValue:
        """The bin is in `[cutoff - days, cutoff)` (of `events`, or of another binned source)."""
        self.shared.requested.add(days)
        if self.shared.windows is not None and days not in self.shared.windows:
            raise ValueError(f"a {days}-day window is not a bin boundary of these sources")
        table = self.events if table is None else table
        return table.bin_s >= self.cutoff_s - days * SECONDS_PER_DAY

    def count(self, signal: str, days: int) -> ibis.Value | None:
        """How many `signal` events in the last `days` days."""
        if not self.names(signal):
            return None
        return (
            ibis.cases((self.within(days), self._bin_column(f"n_{signal}")), else_=0)
            .sum()
            .cast("float64")
        )

    def amount(self, signal: str, days: int) -> ibis.Value | None:
        """The summed `value` of `signal` events (payments) in the last `days` days."""
        if not self.names(signal):
            return None
        # A bin without amounts adds 0, so a customer with events but no amounts paid 0, as
        # when amounts were summed over events.
        value = self._bin_column(f"value_{signal}").fill_null(0)
        return ibis.cases((self.within(days), value), else_=0).sum().cast("float64")

    def latest_age_s(self, signal: str) -> ibis.Value:
        """Seconds from the latest `signal` event in the lookback to the cutoff."""
        return self.cutoff_s - self._bin_column(f"last_{signal}").max()

    def earliest_age_s(self, signal: str) -> ibis.Value:
        """Seconds from the earliest `signal` event in the lookback to the cutoff."""
        return self.cutoff_s - self._bin_column(f"first_{signal}").min()

    def days_since_last(self, signal: str) -> ibis.Value | None:
        """Days from the latest `signal` event to the cutoff; missing if none in the lookback."""
        if not self.names(signal):
            return None
        return self.latest_age_s(signal).cast("float64") / SECONDS_PER_DAY

    def active_days(self, first_day: int, last_day: int) -> ibis.Value | None:
        """Distinct days with activity in `[cutoff - last_day, cutoff - first_day)` (each a bin
        boundary); a reduction over `activity_days`, so all active-day builders share one
        distinct pass."""
        if not self.names("activity"):
            return None
        days = self.activity_days
        inside = self.within(last_day, days)
        if first_day:
            inside &= ~self.within(first_day, days)
        return ibis.cases((inside, days.days), else_=0).sum().cast("float64")

    @cached_property
    def activity_days(self) -> ibis.Table:
        """Active days in the lookback, by bin (see `SharedEvents.activity_days`)."""
        return self._in_lookback(self.shared.activity_days, "bin_s")

    @cached_property
    def web_sequences(self) -> ibis.Table:
        """Cancel-page views in the lookback (binned, see `SharedEvents.web_sequences`) with
        `faq_then_cancel`, how many of them follow an FAQ view in the lookback."""
        views = self._in_lookback(self.shared.web_sequences, "bin_s")
        after_faq = views.faq_bin_s.notnull() & (views.faq_bin_s >= self.lookback_start_s)
        return views.mutate(faq_then_cancel=ibis.cases((after_faq, views.views), else_=0))

    @cached_property
    def emails(self) -> ibis.Table:
        """Email sends in the lookback (binned, see `SharedEvents.emails`) with `unopened`, how
        many of them had no open from the send to the cutoff."""
        sends = self._in_lookback(self.shared.emails, "bin_s")
        unopened = sends.open_bin_s.isnull() | (sends.open_bin_s >= self.cutoff_s)
        return sends.mutate(unopened=ibis.cases((unopened, sends.sends), else_=0))
