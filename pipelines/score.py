"""The nightly scoring job, as wiring: champion model -> features as of a date -> checks ->
chunks scored and explained (models.scoring) -> the day's folder published whole.

The model is resolved once (an alias becomes a fixed version before anything is loaded), its
feature spec is checked against what this code and config build, the drift guard runs before
any prediction, and `scores/as_of=YYYY-MM-DD/` appears whole or not at all (one run per day
at a time; the day points at a complete version throughout: pipelines.catalog.publish).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from features.config import Config
from features.contract import as_utc
from features.errors import ChurnError
from features.matrix import feature_columns, matrix_hash
from models.contributions import tree_splits
from models.decisions import decide_day
from models.drift import DriftAccumulator, DriftLevels, DriftSummary, drift_summary, enforce
from models.explain import ReasonBook
from models.scoring import (
    Fingerprints,
    TierSummary,
    check_feature_code,
    check_population,
    check_spec,
    chunks,
    explain_chunk,
    explained_rows,
    predict_chunk,
)
from models.tiers import ValueSource, check_value_source, customer_value
from pipelines import catalog
from pipelines.catalog import ResolvedModel
from pipelines.manifest import ScoreManifest

log = logging.getLogger(__name__)

STEPS = ("model", "features", "drift", "predict", "explain", "tiers", "write")


@dataclass(frozen=True)
class EngineChoice:
    """Where features are built and scored: embedded DuckDB, or a Spark session."""

    name: str = "duckdb"
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] | None = None


@dataclass
class Stopwatch:
    """Seconds spent per step of the night, for the manifest."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began
        catalog.checkpoint(name)  # where the fault-injection tests may kill the run


@dataclass(frozen=True)
class ScoreOutputs:
    folder: Path
    manifest: ScoreManifest


@dataclass(frozen=True)
class DayFeatures:
    """What the night scores: the matrix as of the date, how many customers are active, what
    validation dropped, each customer's consent per channel, and Spark's frame on Spark."""

    matrix: pd.DataFrame
    active: int
    quality: dict
    consent: pd.DataFrame | None = None
    spark: object = None
    feed: dict = field(default_factory=dict)  # features.feed.feed_record


def build_features(data: Path, cfg: Config, as_of: pd.Timestamp) -> DayFeatures:
    """Validate the dataset and check its feeds (writing nothing on bad input), then the
    day's features."""
    from features.feed import check_feeds, feed_record
    from features.matrix import build_matrix
    from features.snapshots import active_customers

    with catalog.validated(data, cfg) as (dataset, report):
        feed = feed_record(check_feeds(dataset, cfg, as_of), cfg)
        matrix = build_matrix(dataset, cfg, [as_of])
        active = active_customers(dataset, cfg, as_of)
        consent = catalog.consent(dataset, cfg)
        return DayFeatures(matrix, active, report.quality(), consent, feed=feed)


def lgb_threads(cfg: Config) -> int:
    """Threads for LightGBM prediction: as configured, or one per core."""
    return cfg.scoring.num_threads or os.cpu_count() or 1


def run_score(
    data: Path,
    cfg: Config,
    as_of: pd.Timestamp,
    out: Path,
    model: str | None = None,
    allow_drift: bool = False,
    engine: EngineChoice = EngineChoice(),
    allow_code_change: bool = False,
) -> ScoreOutputs:
    """`churn score`: write `out/scores/as_of=YYYY-MM-DD/` (parts + manifest.json) atomically."""
    as_of = as_utc(as_of)
    # The day's lock first: a second run of the day fails (or waits) before any work.
    with catalog.day_lock(out, as_of, cfg.scoring.wait_for_lock_seconds):
        started = time.perf_counter()
        watch = Stopwatch()
        with watch.step("model"):
            resolved = catalog.resolve_model(model, cfg.training.model_name)
            code = check_feature_code(resolved.bundle, resolved.uri, allow_code_change)
        with watch.step("features"):
            day = day_features(Path(data), cfg, as_of, engine)
        matrix, active = day.matrix, day.active
        check_population(matrix, active, as_of)
        built = Fingerprints(cfg.features_fingerprint(), cfg.fingerprint())
        check_spec(resolved.bundle, matrix, built, resolved.uri)
        previous = catalog.previous_night(
            out, as_of, resolved.version, cfg.scoring.drift_max_gap_days
        )
        keep, wait = cfg.scoring.keep_previous_versions, cfg.scoring.wait_for_lock_seconds
        with catalog.publish_day(out, as_of, keep, wait) as staging:
            drift, tiers = score_into(day, resolved, cfg, staging, allow_drift, watch, previous)
            written = catalog.rows_written(staging)
            if written != len(matrix):
                raise ChurnError(f"internal: wrote {written} rows for {len(matrix)} customers")
            watch.seconds["total"] = time.perf_counter() - started
            manifest = ScoreManifest.for_day(
                as_of, resolved, cfg, str(data), matrix_hash(matrix), matrix.shape, written,
                active, tiers.to_dict(), drift, lgb_threads(cfg), watch.seconds, day.quality, code,
                day.feed,
            )  # fmt: skip
            catalog.write_manifest(staging, manifest.to_dict())
        folder = catalog.day_folder(out, as_of)
        log.info("wrote %s scores to %s", f"{written:,}", folder)
        return ScoreOutputs(folder, manifest)


def day_features(data: Path, cfg: Config, as_of: pd.Timestamp, engine: EngineChoice) -> DayFeatures:
    """The day's features on the chosen engine."""
    if engine.name == "duckdb":
        return build_features(data, cfg, as_of)
    from pipelines.spark_scoring import spark_features

    matrix, active, frame = spark_features(data, cfg, as_of, engine.spark_master, engine.spark_conf)
    return DayFeatures(matrix, active, frame.quality, frame.consent, frame, frame.feed)


def score_into(
    day: DayFeatures,
    resolved: ResolvedModel,
    cfg: Config,
    staging: Path,
    allow_drift: bool,
    watch: Stopwatch,
    previous: tuple[str, DriftSummary] | None = None,
) -> tuple[DriftSummary, TierSummary]:
    """Score the day's matrix chunk by chunk (or on Spark), decide the day's tiers and actions,
    write them into `staging`, then judge drift against the model's reference and the previous
    night before anything is published."""
    bundle, scoring, matrix = resolved.bundle, cfg.scoring, day.matrix
    drift = DriftAccumulator(bundle.reference)
    with watch.step("drift"):
        for chunk in chunks(matrix[feature_columns(matrix)], scoring.chunk_customers):
            drift.add_features(chunk)
    book = ReasonBook.for_bundle(bundle, cfg)
    value_source = check_value_source(list(matrix.columns), cfg, bundle)
    if day.spark is not None:
        from pipelines.spark_scoring import score_on_spark

        with watch.step("predict"):  # predict and explain, on Spark
            explained = score_on_spark(day.spark, bundle, book, value_source, cfg, resolved.version)
        # The executors keep their contributions: drift is judged on the score's PSI alone.
        log.warning("--engine spark: contribution drift is not computed, only the score's PSI")
    else:
        parts = local_parts(matrix, resolved, cfg, book, value_source, watch, drift)
        explained = pd.concat(list(parts), ignore_index=True)
    with watch.step("tiers"):  # the contact budget ranks the whole day at once
        scored = decide_day(explained, cfg.decisions, as_utc(matrix["cutoff"].iloc[0]), day.consent)
    tiers = TierSummary()
    for number, rows in enumerate(chunks(scored, scoring.chunk_customers)):
        drift.add_scores(rows["churn_probability"].to_numpy())
        tiers.add(rows)
        with watch.step("write"):
            catalog.write_scores_part(rows, staging, number)
        done = number * scoring.chunk_customers + len(rows)
        log.info("scored %s of %s customers", f"{done:,}", f"{len(matrix):,}")
    levels = DriftLevels(
        scoring.drift_warn_psi,
        scoring.drift_fail_psi,
        scoring.drift_max_shift,
        tuple(scoring.drift_exempt),
    )
    summary = drift_summary(drift, bundle.spec.names, levels, previous)
    enforce(summary, allow_drift)
    return replace(summary, allowed=bool(summary.failed) and allow_drift), tiers


def local_parts(
    matrix: pd.DataFrame,
    resolved: ResolvedModel,
    cfg: Config,
    book: ReasonBook,
    value_source: ValueSource,
    watch: Stopwatch,
    drift: DriftAccumulator,
) -> Iterable[pd.DataFrame]:
    """Each chunk's explained rows, predicted and explained here, step by step."""
    bundle, threads = resolved.bundle, lgb_threads(cfg)
    trees = tree_splits(bundle.booster) if cfg.scoring.explainer == "grouped" else None
    for chunk in chunks(matrix, cfg.scoring.chunk_customers):
        with watch.step("predict"):
            predicted = predict_chunk(chunk, bundle, threads)
        with watch.step("explain"):
            explained = explain_chunk(predicted, bundle, book, threads, trees)
            drift.add_contributions(explained.contributions)
        value = customer_value(chunk, value_source, predicted.probability)
        yield explained_rows(predicted, explained.reasons, value, resolved.version)
