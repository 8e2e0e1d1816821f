"""The same snapshots and features as `features.matrix.build_matrix`, written the plain Polars way.

This is a benchmark reference, not pipeline code: what a competent Polars user would write to get
the training matrix. It scans the Parquet lazily and, for each cutoff, builds one lazy query (the
snapshot, the lookback window's events grouped by customer, the customers' own columns, joined)
and collects it. Nothing is shared across cutoffs and nothing is tuned beyond what Polars'
planner does by itself. A test checks it equals the DuckDB matrix.

The semantics are those documented in `benchmarks.pandas_reference` (half-open windows, ages in
whole seconds floored, day index `(age_s - 1) // 86400`, FAQ-then-cancel within 1800 s inclusive
or in the same non-null session, 0 for counts and missing for "days since"); that module's list
of event features and the signals each needs is reused, so an unmapped family yields no columns
here either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import polars as pl

from benchmarks.pandas_reference import EVENT_FEATURES
from features.config import Config
from features.context import FAQ_THEN_CANCEL_SECONDS, SECONDS_PER_DAY
from features.contract import as_utc
from features.errors import ConfigError
from features.registry import available_builders
from features.snapshots import value_horizon_days

log = logging.getLogger(__name__)

FAQ_THEN_CANCEL = {"faq_then_cancel_30d": 30, "faq_then_cancel_90d": 90}
UNOPENED_STREAK = "unopened_email_streak"
CUSTOMER_FEATURES = ("tenure_days", "plan_price", "profile_attributes")


# --- reading -------------------------------------------------------------------------------


def scan_world(folder: Path | str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Customers and events of a dataset folder, scanned lazily; events get `ts_s`."""
    folder = Path(folder)
    customers = pl.scan_parquet(folder / "customers.parquet")
    events_path = folder / "events.parquet"
    source = events_path if events_path.is_file() else folder / "events" / "*.parquet"
    events = pl.scan_parquet(source).with_columns(ts_s=whole_seconds("ts"))
    return customers, events


def whole_seconds(column: str) -> pl.Expr:
    """Epoch seconds of a UTC timestamp column, floored (as the builders compute them)."""
    return pl.col(column).dt.epoch("us") // 1_000_000


def instant(ts: pd.Timestamp) -> pl.Expr:
    """A UTC timestamp as a literal comparable with the `ts` and `signup_at` columns."""
    return pl.lit(ts.to_pydatetime(), dtype=pl.Datetime("us", "UTC"))


def observed_until(events: pl.LazyFrame, cfg: Config) -> pd.Timestamp:
    """The exclusive end of observation: from config, else midnight after the last event."""
    if cfg.snapshots.observed_until is not None:
        return pd.Timestamp(cfg.snapshots.observed_until, tz="UTC")
    last: datetime = events.select(pl.col("ts").max()).collect().item()
    return pd.Timestamp(last).floor("D") + pd.Timedelta(days=1)


# --- snapshot and labels -------------------------------------------------------------------


def _marked(rows: pl.LazyFrame, ids: pl.LazyFrame, mark: str) -> pl.LazyFrame:
    """`rows` with a boolean column `mark`: whether the row's customer is among `ids`."""
    hits = ids.select("customer_id").unique().with_columns(pl.lit(True).alias(mark))
    joined = rows.join(hits, on="customer_id", how="left")
    return joined.with_columns(pl.col(mark).fill_null(False))


def _between(start: pd.Timestamp, end: pd.Timestamp) -> pl.Expr:
    return (pl.col("ts") >= instant(start)) & (pl.col("ts") < instant(end))


def _population(
    customers: pl.LazyFrame, events: pl.LazyFrame, cfg: Config, cutoff: pd.Timestamp
) -> pl.LazyFrame:
    """customer_id of those active at `cutoff` and `left`: whether they churned in the horizon."""
    signed_up = customers.filter(pl.col("signup_at") < instant(cutoff)).select("customer_id")
    end = cutoff + pd.Timedelta(days=cfg.snapshots.horizon_days)
    if cfg.churn.source == "events":
        churn = events.filter(pl.col("event").is_in(cfg.churn.events))
        before = churn.filter(pl.col("ts") < instant(cutoff))
        active = signed_up.join(before.select("customer_id"), on="customer_id", how="anti")
        return _marked(active, churn.filter(_between(cutoff, end)), "left")
    if cfg.churn.source == "inactivity":
        activity = events.filter(pl.col("event").is_in(cfg.signals.activity))
        window = cfg.snapshots.active_within_days or cfg.churn.inactive_days
        active = signed_up
        if window != "all":
            since = cutoff - pd.Timedelta(days=window)
            recent = activity.filter(_between(since, cutoff)).select("customer_id")
            active = signed_up.join(recent, on="customer_id", how="semi")
        returned = _marked(active, activity.filter(_between(cutoff, end)), "returned")
        return returned.select("customer_id", left=~pl.col("returned"))
    raise ConfigError("the Polars reference derives labels from events only (churn.source)")


def _future_revenue(events: pl.LazyFrame, cfg: Config, cutoff: pd.Timestamp) -> pl.LazyFrame:
    """The value model's label: payments in [cutoff, cutoff + value horizon), per customer."""
    paid_until = cutoff + pd.Timedelta(days=value_horizon_days(cfg))
    paid = events.filter(pl.col("event").is_in(cfg.signals.payment) & _between(cutoff, paid_until))
    return paid.group_by("customer_id").agg(future_revenue=pl.col("value").sum())


def snapshot(
    customers: pl.LazyFrame,
    events: pl.LazyFrame,
    cfg: Config,
    cutoff: pd.Timestamp,
    until: pd.Timestamp,
) -> pl.LazyFrame:
    """customer_id and churned (1.0/0.0, null when the horizon is not observed) at one cutoff,
    with future_revenue when labelled and payments are mapped."""
    population = _population(customers, events, cfg, cutoff)
    labelled = cutoff + pd.Timedelta(days=cfg.snapshots.horizon_days) <= until
    if not labelled:
        return population.select("customer_id", churned=pl.lit(None, dtype=pl.Float64))
    rows = population.select("customer_id", churned=pl.col("left").cast(pl.Float64))
    if cfg.signals.payment and "value" in events.collect_schema():
        revenue = _future_revenue(events, cfg, cutoff)
        rows = rows.join(revenue, on="customer_id", how="left")
        rows = rows.with_columns(pl.col("future_revenue").fill_null(0.0))
    return rows


# --- the lookback window's events ----------------------------------------------------------


def in_window(events: pl.LazyFrame, cfg: Config, cutoff: pd.Timestamp) -> pl.LazyFrame:
    """Events of the lookback before `cutoff`, with `age_s` = cutoff_s - ts_s."""
    since = cutoff - pd.Timedelta(days=cfg.snapshots.lookback_days)
    kept = events.filter(_between(since, cutoff))
    return kept.with_columns(age_s=pl.lit(int(cutoff.timestamp())) - pl.col("ts_s"))


class Signals:
    """Per-customer aggregate expressions over the window, for `group_by(...).agg`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def names(self, signal: str) -> list[str]:
        return list(getattr(self.cfg.signals, signal))

    def is_(self, signal: str) -> pl.Expr:
        return pl.col("event").is_in(self.names(signal))

    def within(self, days: int) -> pl.Expr:
        return pl.col("age_s") <= days * SECONDS_PER_DAY

    def count(self, signal: str, days: int) -> pl.Expr:
        return (self.is_(signal) & self.within(days)).sum().cast(pl.Float64)

    def days_since_last(self, signal: str) -> pl.Expr:
        return pl.col("age_s").filter(self.is_(signal)).min() / SECONDS_PER_DAY

    def active_days(self, first_day: int, last_day: int) -> pl.Expr:
        day = (pl.col("age_s") - 1) // SECONDS_PER_DAY
        in_range = self.is_("activity") & (day >= first_day) & (day < last_day)
        return day.filter(in_range).n_unique().cast(pl.Float64)

    def revenue(self, days: int) -> pl.Expr:
        paid = self.is_("payment") & self.within(days)
        return pl.col("value").filter(paid).sum().cast(pl.Float64)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null where the denominator is 0."""
    return pl.when(denominator != 0).then(numerator / denominator)


# name -> its expression over one customer's window events (needs: EVENT_FEATURES)
AGGREGATES: dict[str, Callable[[Signals], pl.Expr]] = {
    "faq_visits_7d": lambda s: s.count("faq_page", 7),
    "faq_visits_30d": lambda s: s.count("faq_page", 30),
    "faq_visits_90d": lambda s: s.count("faq_page", 90),
    "cancel_page_visits_7d": lambda s: s.count("cancel_page", 7),
    "cancel_page_visits_30d": lambda s: s.count("cancel_page", 30),
    "cancel_page_visits_90d": lambda s: s.count("cancel_page", 90),
    "days_since_last_cancel_page": lambda s: s.days_since_last("cancel_page"),
    "support_contacts_7d": lambda s: s.count("support_contact", 7),
    "support_contacts_30d": lambda s: s.count("support_contact", 30),
    "support_contacts_90d": lambda s: s.count("support_contact", 90),
    "support_spike_ratio_7d": lambda s: (
        (s.count("support_contact", 7) / 7)
        / ((s.count("support_contact", 37) - s.count("support_contact", 7) + 1) / 30)
    ),
    "days_since_last_support_contact": lambda s: s.days_since_last("support_contact"),
    "days_since_last_activity": lambda s: s.days_since_last("activity"),
    "active_days_7d": lambda s: s.active_days(0, 7),
    "active_days_30d": lambda s: s.active_days(0, 30),
    "active_days_90d": lambda s: s.active_days(0, 90),
    "activity_trend_30d_vs_60d": lambda s: s.active_days(0, 30) - s.active_days(30, 90) / 2,
    "emails_sent_30d": lambda s: s.count("email_sent", 30),
    "emails_opened_30d": lambda s: s.count("email_open", 30),
    "email_open_rate_30d": lambda s: _ratio(s.count("email_open", 30), s.count("email_sent", 30)),
    "days_since_last_email_open": lambda s: s.days_since_last("email_open"),
    "revenue_30d": lambda s: s.revenue(30),
    "revenue_90d": lambda s: s.revenue(90),
    "revenue_365d": lambda s: s.revenue(365),
    "purchases_365d": lambda s: s.count("payment", 365),
    "average_order_value_365d": lambda s: _ratio(s.revenue(365), s.count("payment", 365)),
}


def faq_then_cancel(window: pl.LazyFrame, signals: Signals, names: list[str]) -> pl.LazyFrame:
    """Cancel-page views at most 30 min after the latest FAQ view, or in a session with an
    earlier FAQ view, counted per customer over each feature's days."""
    is_faq = signals.is_("faq_page")
    faqs = window.filter(is_faq)
    cancels = window.filter(signals.is_("cancel_page") & ~is_faq)
    latest_faq = faqs.select("customer_id", faq_s=pl.col("ts_s")).sort("faq_s")
    # The latest FAQ view at or before each cancel-page view (same second counts as before).
    # Both sides are sorted by time above, hence within each customer (Polars cannot check it).
    paired = cancels.sort("ts_s").join_asof(
        latest_faq,
        left_on="ts_s",
        right_on="faq_s",
        by="customer_id",
        strategy="backward",
        check_sortedness=False,
    )
    first_in_session = (
        faqs.filter(pl.col("session_id").is_not_null())
        .group_by("customer_id", "session_id")
        .agg(session_faq_s=pl.col("ts_s").min())
    )
    paired = paired.join(first_in_session, on=["customer_id", "session_id"], how="left")
    hit = (
        (pl.col("ts_s") - pl.col("faq_s") <= FAQ_THEN_CANCEL_SECONDS)
        | (pl.col("session_faq_s") <= pl.col("ts_s"))
    ).fill_null(False)
    counts = {
        name: (hit & signals.within(FAQ_THEN_CANCEL[name])).sum().cast(pl.Float64) for name in names
    }
    return paired.group_by("customer_id").agg(**counts)


def unopened_email_streak(window: pl.LazyFrame, signals: Signals) -> pl.LazyFrame:
    """Emails sent after the customer's latest open in the window (all of them if none)."""
    last_open = (
        window.filter(signals.is_("email_open"))
        .group_by("customer_id")
        .agg(last_open_s=pl.col("ts_s").max())
    )
    sent = window.filter(signals.is_("email_sent")).join(last_open, on="customer_id", how="left")
    unopened = pl.col("last_open_s").is_null() | (pl.col("ts_s") > pl.col("last_open_s"))
    return sent.group_by("customer_id").agg(**{UNOPENED_STREAK: unopened.sum().cast(pl.Float64)})


def event_features(window: pl.LazyFrame, signals: Signals, names: list[str]) -> list[pl.LazyFrame]:
    """Per-customer tables (customer_id plus features) of the window for the given features."""
    tables = []
    aggregated = {name: AGGREGATES[name](signals) for name in names if name in AGGREGATES}
    if aggregated:
        tables.append(window.group_by("customer_id").agg(**aggregated))
    pairs = [name for name in names if name in FAQ_THEN_CANCEL]
    if pairs:
        tables.append(faq_then_cancel(window, signals, pairs))
    if UNOPENED_STREAK in names:
        tables.append(unopened_email_streak(window, signals))
    return tables


# --- customers' own columns ----------------------------------------------------------------


def customer_features(
    customers: pl.LazyFrame, cfg: Config, cutoff: pd.Timestamp
) -> tuple[pl.LazyFrame, list[str]]:
    """Tenure, plan price and profile columns per customer, and their names in config order."""
    columns: dict[str, pl.Expr] = {}
    present = customers.collect_schema()
    categorical = set(cfg.features.categorical_columns)
    for name in cfg.features.builders:
        if name == "tenure_days":
            tenure_s = pl.lit(int(cutoff.timestamp())) - whole_seconds("signup_at")
            columns[name] = tenure_s / SECONDS_PER_DAY
        elif name == "plan_price" and "plan_price" in present:
            columns[name] = pl.col("plan_price").cast(pl.Float64)
        elif name == "profile_attributes":
            for column in cfg.features.profile_columns:
                dtype = pl.String if column in categorical else pl.Float64
                columns[column] = pl.col(column).cast(dtype)
    return customers.select("customer_id", **columns), list(columns)


# --- the matrix ----------------------------------------------------------------------------


def mapped_event_features(cfg: Config) -> list[str]:
    """Event features of the config whose signals are all mapped, in config order."""
    names = []
    for name in cfg.features.builders:
        if name in CUSTOMER_FEATURES:
            continue
        if name not in EVENT_FEATURES:
            raise ConfigError(f"the Polars reference has no implementation of builder {name}")
        needs, _ = EVENT_FEATURES[name]
        if all(getattr(cfg.signals, signal) for signal in needs):
            names.append(name)
    return names


def column_order(cfg: Config, rows: list[str], event: list[str], own: list[str]) -> list[str]:
    """customer_id, cutoff, the labels, then the features in config order (profile expanded)."""
    features = []
    for name in cfg.features.builders:
        if name == "profile_attributes":
            features += list(cfg.features.profile_columns)
        elif name in event or name in own:
            features.append(name)
    labels = [column for column in rows if column != "customer_id"]
    return ["customer_id", "cutoff", *labels, *features]


def features_at(
    customers: pl.LazyFrame,
    events: pl.LazyFrame,
    cfg: Config,
    cutoff: pd.Timestamp,
    until: pd.Timestamp,
) -> pl.LazyFrame:
    """One cutoff's rows as one lazy query: the snapshot with every configured feature."""
    rows = snapshot(customers, events, cfg, cutoff, until)
    label_columns = rows.collect_schema().names()
    names = mapped_event_features(cfg)
    for table in event_features(in_window(events, cfg, cutoff), Signals(cfg), names):
        rows = rows.join(table, on="customer_id", how="left")
    own, own_names = customer_features(customers, cfg, cutoff)
    rows = rows.join(own, on="customer_id", how="left")
    builders = available_builders()
    fills = [
        pl.col(name).fill_null(builders[name].missing)
        for name in names
        if builders[name].missing is not None
    ]
    rows = rows.with_columns(*fills, cutoff=instant(cutoff))
    return rows.select(column_order(cfg, label_columns, names, own_names)).sort("customer_id")


def polars_matrix(folder: Path, cfg: Config, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """The matrix for every cutoff, rows sorted by cutoff then customer_id, as pandas."""
    customers, events = scan_world(folder)
    until = observed_until(events, cfg)
    frames = []
    for cutoff in sorted(as_utc(c) for c in cutoffs):
        started = time.perf_counter()
        frames.append(features_at(customers, events, cfg, cutoff, until).collect())
        log.info(
            "Polars reference at %s: %d rows in %.1f s",
            f"{cutoff:%Y-%m-%d}",
            frames[-1].height,
            time.perf_counter() - started,
        )
    matrix = pl.concat(frames, how="diagonal_relaxed").to_pandas()
    return _typed(matrix, cfg.features.categorical_columns)


def _typed(matrix: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Categorical profile columns as pandas categories (as the reference and build_matrix)."""
    for column in set(categorical) & set(matrix.columns):
        matrix[column] = matrix[column].astype("category")
    return matrix
