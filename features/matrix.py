"""The feature matrix: one row per (customer, cutoff), the label, and every selected feature.

Per cutoff, builders reading the same source run as one aggregation, and the parts are joined to
the snapshot; the engine (DuckDB or Spark) does the work and only the result reaches pandas.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence

import ibis
import pandas as pd
import pyarrow as pa

from features.config import Config
from features.context import FeatureContext, SharedEvents, day_offset
from features.contract import KEY_COLUMNS, as_utc
from features.dataset import Dataset
from features.errors import DataContractError
from features.registry import FeatureBuilder, available_builders
from features.snapshots import (
    build_snapshot,
    count_snapshot,
    label_events,
    observed_until,
    training_cutoffs,
)

log = logging.getLogger(__name__)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a matrix: everything but the keys and the label."""
    return [c for c in frame.columns if c not in KEY_COLUMNS]


def selected_builders(cfg: Config) -> list[FeatureBuilder]:
    """The builders named in config, in config order."""
    registry = available_builders()
    return [registry[name] for name in cfg.features.builders]


def built_values(ctx: FeatureContext, cfg: Config) -> tuple[dict, dict[str, float | None]]:
    """Every selected builder's expressions grouped by the source they reduce, and each
    feature's fill value."""
    by_source: dict[str, dict[str, ibis.Value]] = {}
    fills: dict[str, float | None] = {}
    for builder in selected_builders(cfg):
        built = builder.build(ctx)
        if built is None:  # the family has no mapped events: no feature, not an error
            continue
        values = built if isinstance(built, dict) else {builder.name: built}
        by_source.setdefault(builder.source, {}).update(values)
        fills.update(dict.fromkeys(values, builder.missing))
    return by_source, fills


def dry_run(dataset: Dataset, cfg: Config, cutoff: pd.Timestamp) -> SharedEvents:
    """Sources that build nothing, after the selected builders ran on them: they record the
    windows (days before the cutoff) the builders count over and the bin columns they read."""
    probe = SharedEvents(dataset.events, [cutoff], cfg)
    built_values(FeatureContext(cutoff, probe, dataset.customers, cfg), cfg)
    return probe


def shared_events(dataset: Dataset, cfg: Config, cutoffs: Sequence[pd.Timestamp]) -> SharedEvents:
    """The event sources of cutoffs sharing a time of day, binned at the builders' windows and
    holding the columns they read."""
    probe = dry_run(dataset, cfg, cutoffs[0])
    return SharedEvents(
        dataset.events,
        cutoffs,
        cfg,
        windows=probe.requested,
        columns=probe.requested_columns,
    )


def feature_table(
    dataset: Dataset,
    cfg: Config,
    cutoff: pd.Timestamp,
    spine: ibis.Table,
    shared: SharedEvents | None = None,
) -> tuple[ibis.Table, dict[str, float | None]]:
    """The spine with every selected feature as of `cutoff`, and each feature's fill value;
    `shared` holds the event sources of several cutoffs (default: this cutoff's alone)."""
    shared = shared or shared_events(dataset, cfg, [cutoff])
    ctx = FeatureContext(cutoff, shared, dataset.customers, cfg)
    by_source, fills = built_values(ctx, cfg)
    table = spine
    for source, values in by_source.items():
        if source == "customers":
            part = ctx.customers.select("customer_id", **values)
        else:
            part = getattr(ctx, source).group_by("customer_id").aggregate(**values)
        table = table.left_join(part, "customer_id")
    return table.select(*spine.columns, *fills), fills


def fill_and_type(frame: pd.DataFrame, fills: dict[str, float | None], cfg: Config) -> pd.DataFrame:
    """Counts with no events become 0; categoricals become pandas categories; the rest float64."""
    categorical = set(cfg.features.categorical_columns)
    for name, fill in fills.items():
        if name in categorical:
            frame[name] = frame[name].astype("category")
            continue
        column = frame[name].astype("float64")
        frame[name] = column.fillna(fill) if fill is not None else column
    return frame


def cutoff_part(
    dataset: Dataset,
    labelled: Dataset,
    cfg: Config,
    cutoff: pd.Timestamp,
    until: pd.Timestamp,
    shared: SharedEvents,
) -> tuple[pa.Table, dict[str, float | None]]:
    """One cutoff's rows in Arrow (its snapshot with every feature), and the fill values."""
    started = time.perf_counter()
    # Kept while it is counted and joined, so its event scans run once.
    snapshot = build_snapshot(labelled, cfg, cutoff, until).cache()
    try:
        log.info(count_snapshot(dataset, snapshot, cutoff).describe())
        table, fills = feature_table(dataset, cfg, cutoff, snapshot, shared)
        part = table.order_by("customer_id").to_pyarrow()
    finally:
        snapshot.release()
    stamp = pa.array([cutoff] * part.num_rows, type=pa.timestamp("us", tz="UTC"))
    log.info(
        "features at %s: %d rows in %.1f s",
        f"{cutoff:%Y-%m-%d}",
        part.num_rows,
        time.perf_counter() - started,
    )
    return part.add_column(1, "cutoff", stamp), fills


def build_matrix(dataset: Dataset, cfg: Config, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Snapshots and features for each cutoff, rows sorted by cutoff then customer_id."""
    if not cutoffs:
        raise ValueError("build_matrix needs at least one cutoff")
    until = observed_until(dataset, cfg)
    cutoffs = sorted(as_utc(c) for c in cutoffs)
    # One pass over the events per time of day (usually one: midnight cutoffs), kept by the
    # engine while every cutoff of it is built.
    by_offset: dict[int, list[pd.Timestamp]] = {}
    for cutoff in cutoffs:
        by_offset.setdefault(day_offset(cutoff), []).append(cutoff)
    shared_by_offset = {
        offset: shared_events(dataset, cfg, group) for offset, group in by_offset.items()
    }
    labelled = label_events(dataset, cfg) if len(cutoffs) > 1 else dataset
    try:
        built = [
            cutoff_part(dataset, labelled, cfg, cutoff, until, shared_by_offset[day_offset(cutoff)])
            for cutoff in cutoffs
        ]
    finally:
        for shared in shared_by_offset.values():
            shared.release()
    parts, fills = [part for part, _ in built], built[-1][1]
    # Concatenated in Arrow and converted once: the matrix is in memory once, not per cutoff
    # and again in the concatenation. A column only some cutoffs have (the label's revenue of a
    # labelled cutoff) is null in the others.
    matrix = pa.concat_tables(parts, promote_options="default").to_pandas(self_destruct=True)
    return fill_and_type(matrix, fills, cfg)


def build_training_matrix(dataset: Dataset, cfg: Config) -> pd.DataFrame:
    """The matrix over every labelled training cutoff (see `training_cutoffs`); a churn
    definition that finds no churner at all is named, not trained on."""
    matrix = build_matrix(dataset, cfg, training_cutoffs(dataset, cfg))
    labelled = matrix["churned"].dropna()
    if len(labelled) and labelled.sum() == 0:
        raise DataContractError([no_churners(cfg, len(labelled), matrix["cutoff"].nunique())])
    return matrix


def no_churners(cfg: Config, rows: int, cutoffs: int) -> str:
    """Why a churn definition found nobody, naming the setting to look at."""
    churn = cfg.churn
    if churn.source == "events":
        setting = f"churn.events {list(churn.events)} within {cfg.snapshots.horizon_days} days"
        fix = "check the event names (churn validate lists those that occur) or the horizon"
    elif churn.source == "inactivity":
        setting = f"churn.inactive_days {churn.inactive_days} (no signals.activity event)"
        fix = "check signals.activity and churn.inactive_days against the data's gaps"
    else:
        setting = "the labels table's churned column"
        fix = "check the labels export"
    return (
        f"churn: 0 churners in {rows:,} labelled rows over {cutoffs} cutoff(s) with {setting}; "
        f"{fix}"
    )


def matrix_hash(matrix: pd.DataFrame) -> str:
    """A short content hash of a matrix (rows and values); never a customer id in clear."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(matrix, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
