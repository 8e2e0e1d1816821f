"""Snapshots: who is in the population at each cutoff, and their label over the horizon after it.

A snapshot holds the customers active at the cutoff: signed up before it and not yet churned
(contractual: no churn event before it; non-contractual: active recently enough). The label is
churn in `[cutoff, cutoff + horizon)`, or missing when that window runs past the data; with
payment events a labelled snapshot also holds `future_revenue`, the payments in
`[cutoff, cutoff + value horizon)` (the value model's label).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import ibis
import pandas as pd

from features.config import Config
from features.context import timestamp_literal
from features.contract import as_utc
from features.dataset import Dataset
from features.errors import ConfigError, DataContractError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotCounts:
    """Who was kept and who was excluded at one cutoff, for the logs and the run report."""

    cutoff: pd.Timestamp
    customers: int
    not_yet_signed_up: int
    churned_or_lapsed_before: int
    in_snapshot: int
    churned: int | None

    def describe(self) -> str:
        rate = (
            "unlabelled"
            if self.churned is None
            else f"churn {self.churned / max(self.in_snapshot, 1):.1%}"
        )
        return (
            f"cutoff {self.cutoff:%Y-%m-%d}: {self.in_snapshot:,} active customers ({rate}); "
            f"excluded {self.not_yet_signed_up:,} not yet signed up and "
            f"{self.churned_or_lapsed_before:,} churned or lapsed before the cutoff"
        )


def observed_until(dataset: Dataset, cfg: Config) -> pd.Timestamp:
    """The exclusive end of observation: from config, else midnight after the last event."""
    if cfg.snapshots.observed_until is not None:
        return pd.Timestamp(cfg.snapshots.observed_until, tz="UTC")
    last = dataset.events.ts.max().to_pyarrow().as_py()
    if last is None:
        if dataset.labels is None:
            raise DataContractError(["table events: no rows, so there is no time to cut at"])
        last = dataset.labels.as_of.max().to_pyarrow().as_py()
    return as_utc(last).floor("D") + pd.Timedelta(days=1)


def is_labelled(cutoff: pd.Timestamp, until: pd.Timestamp, cfg: Config) -> bool:
    """Whether the whole label window after `cutoff` has been observed."""
    if cfg.churn.source == "labels":
        return True
    return cutoff + pd.Timedelta(days=cfg.snapshots.horizon_days) <= until


def training_cutoffs(dataset: Dataset, cfg: Config) -> list[pd.Timestamp]:
    """The labelled cutoffs to train, validate and test on, oldest first."""
    if cfg.churn.source == "labels":
        return _label_cutoffs(dataset)
    until = observed_until(dataset, cfg)
    spec = cfg.snapshots
    if spec.cutoffs:
        cutoffs = [pd.Timestamp(c, tz="UTC") for c in spec.cutoffs]
    else:
        horizon = pd.Timedelta(days=spec.horizon_days)
        last = (
            pd.Timestamp(spec.last_cutoff, tz="UTC")
            if spec.last_cutoff
            else (until - horizon).floor("D")
        )
        cutoffs = [last - pd.Timedelta(days=spec.every_days * k) for k in range(spec.count)]
    labelled = sorted(c for c in cutoffs if is_labelled(c, until, cfg))
    dropped = sorted(set(cutoffs) - set(labelled))
    if dropped:
        log.warning(
            "cutoffs %s dropped from training: their %d-day horizon runs past the data (%s)",
            [f"{c:%Y-%m-%d}" for c in dropped],
            spec.horizon_days,
            f"{until:%Y-%m-%d}",
        )
    if not labelled:
        raise ConfigError(
            f"no cutoff has a fully observed {spec.horizon_days}-day horizon before "
            f"{until:%Y-%m-%d}; move snapshots.cutoffs earlier or shorten snapshots.horizon_days"
        )
    return labelled


def _label_cutoffs(dataset: Dataset) -> list[pd.Timestamp]:
    if dataset.labels is None:
        raise ConfigError(
            "churn.source is 'labels' but the dataset has no labels table; add labels.parquet "
            "or derive labels from events (churn.source: events or inactivity)"
        )
    as_of = dataset.labels.select("as_of").distinct().to_pyarrow().column("as_of").to_pylist()
    return sorted(as_utc(a) for a in as_of)


def label_events(dataset: Dataset, cfg: Config) -> Dataset:
    """The dataset with its events cut to those the snapshots of contractual churn read (churn
    and payment events), kept by the engine: many cutoffs then scan those (7% of the demo
    world's events) instead of all of them. Other churn definitions read activity, which is
    most events, so their dataset is returned as it is."""
    if cfg.churn.source != "events":
        return dataset
    events = dataset.events
    names = [*cfg.churn.events, *cfg.signals.payment]
    return replace(dataset, events=events.filter(events.event.isin(names)).cache())


def build_snapshot(
    dataset: Dataset, cfg: Config, cutoff: pd.Timestamp, until: pd.Timestamp
) -> ibis.Table:
    """One row per customer active at `cutoff`: customer_id, churned (1.0/0.0, null if unknown)
    and, for given labels with a train/test division, split."""
    signed_up = dataset.customers.filter(dataset.customers.signup_at < timestamp_literal(cutoff))
    signed_up = signed_up.select("customer_id")
    if cfg.churn.source == "labels":
        return _given_labels(dataset, signed_up, cutoff)
    active = _active(dataset, cfg, signed_up, cutoff)
    if not is_labelled(cutoff, until, cfg):
        return active.mutate(churned=ibis.null("float64"))
    churners = _churned_in_horizon(dataset, cfg, active, cutoff)
    labelled = active.left_join(churners, "customer_id").select(
        "customer_id", churned=churners.customer_id.notnull().cast("float64")
    )
    revenue = _future_revenue(dataset, cfg, cutoff)
    if revenue is None:
        return labelled
    joined = labelled.left_join(revenue, "customer_id")
    return joined.select(
        "customer_id", "churned", future_revenue=joined.future_revenue.fill_null(0.0)
    )


def value_horizon_days(cfg: Config) -> int:
    """The window after a cutoff whose revenue is a customer's value (`scoring.value`)."""
    return cfg.scoring.value.horizon_days or cfg.snapshots.horizon_days


def _future_revenue(dataset: Dataset, cfg: Config, cutoff: pd.Timestamp) -> ibis.Table | None:
    """Per customer paying in `[cutoff, cutoff + value horizon)`, the sum of those payments: the
    value model's label. None when there is nothing to sum (no payment events or amounts) or
    labels are given (nothing says their revenue window was observed)."""
    events = dataset.events
    if cfg.churn.source == "labels" or not cfg.signals.payment or "value" not in events.columns:
        return None
    end = cutoff + pd.Timedelta(days=value_horizon_days(cfg))
    paid = events.filter(
        events.event.isin(cfg.signals.payment),
        events.ts >= timestamp_literal(cutoff),
        events.ts < timestamp_literal(end),
    )
    return paid.group_by("customer_id").aggregate(
        future_revenue=paid.value.cast("float64").fill_null(0.0).sum()
    )


def _events_between(
    dataset: Dataset, names: list[str], start: pd.Timestamp, end: pd.Timestamp
) -> ibis.Table:
    """Distinct customers with an event named in `names` in `[start, end)`."""
    events = dataset.events
    hits = events.filter(
        events.event.isin(names),
        events.ts >= timestamp_literal(start),
        events.ts < timestamp_literal(end),
    )
    return hits.select("customer_id").distinct()


def _active(
    dataset: Dataset, cfg: Config, signed_up: ibis.Table, cutoff: pd.Timestamp
) -> ibis.Table:
    if cfg.churn.source == "events":
        churned_before = _events_between(
            dataset, cfg.churn.events, pd.Timestamp(0, tz="UTC"), cutoff
        )
        return signed_up.anti_join(churned_before, "customer_id")
    window = cfg.snapshots.active_within_days or cfg.churn.inactive_days
    if window == "all":
        return signed_up
    recent = _events_between(
        dataset, cfg.signals.activity, cutoff - pd.Timedelta(days=window), cutoff
    )
    return signed_up.semi_join(recent, "customer_id")


def _churned_in_horizon(
    dataset: Dataset, cfg: Config, active: ibis.Table, cutoff: pd.Timestamp
) -> ibis.Table:
    """The active customers who churn in `[cutoff, cutoff + horizon)`."""
    end = cutoff + pd.Timedelta(days=cfg.snapshots.horizon_days)
    if cfg.churn.source == "events":
        return _events_between(dataset, cfg.churn.events, cutoff, end)
    # Non-contractual: no activity at all during the horizon.
    returned = _events_between(dataset, cfg.signals.activity, cutoff, end)
    return active.anti_join(returned, "customer_id")


def _given_labels(dataset: Dataset, signed_up: ibis.Table, cutoff: pd.Timestamp) -> ibis.Table:
    labels = None
    if dataset.labels is not None:
        labels = dataset.labels.filter(dataset.labels.as_of == timestamp_literal(cutoff))
    if labels is None or labels.count().to_pyarrow().as_py() == 0:
        # Scoring a date with no given labels: everyone signed up is in, label unknown.
        return signed_up.mutate(churned=ibis.null("float64"))
    columns = {"churned": labels.churned.cast("float64")}
    if "split" in labels.columns:
        columns["split"] = labels.split.cast("string")
    labels = labels.select("customer_id", **columns)
    return signed_up.inner_join(labels, "customer_id").select("customer_id", *columns)


def count_snapshot(dataset: Dataset, snapshot: ibis.Table, cutoff: pd.Timestamp) -> SnapshotCounts:
    """Count who was kept and excluded at one cutoff (three small aggregate queries)."""
    customers = dataset.customers
    total = int(customers.count().to_pyarrow().as_py())
    signed = int(
        customers.filter(customers.signup_at < timestamp_literal(cutoff))
        .count()
        .to_pyarrow()
        .as_py()
    )
    stats = snapshot.aggregate(n=snapshot.count(), churned=snapshot.churned.sum()).to_pyarrow()
    kept = int(stats.column("n")[0].as_py())
    churned = stats.column("churned")[0].as_py()
    return SnapshotCounts(
        cutoff=cutoff,
        customers=total,
        not_yet_signed_up=total - signed,
        churned_or_lapsed_before=signed - kept,
        in_snapshot=kept,
        churned=None if churned is None else int(churned),
    )


def active_customers(dataset: Dataset, cfg: Config, as_of: pd.Timestamp) -> int:
    """How many customers the snapshot at `as_of` holds, counted apart from the feature join
    (the nightly job's row-count guard)."""
    snapshot = build_snapshot(dataset, cfg, as_of, observed_until(dataset, cfg))
    return int(snapshot.count().to_pyarrow().as_py())
