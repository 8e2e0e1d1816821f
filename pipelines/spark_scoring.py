"""Nightly scoring on Spark: features as a Spark DataFrame, scored by `score_and_explain`.

The same pure function as the local chunk loop runs inside `mapInPandas`; each partition
rebuilds the booster once from its model text (no pickle of the model) and predicts with one
thread, since Spark already runs one task per core.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.config import Config
from features.contract import EXPLAINED
from models.bundle import ModelBundle
from models.explain import ReasonBook
from models.tiers import ValueSource
from pipelines import catalog


@dataclass(frozen=True)
class SparkFeatures:
    frame: object  # pyspark.sql.DataFrame of raw feature columns, cached
    fills: dict[str, float | None]
    as_of: pd.Timestamp
    quality: dict = field(default_factory=dict)  # what validation dropped, for the manifest
    consent: pd.DataFrame | None = None  # per customer and channel (decisions.consent)
    feed: dict = field(default_factory=dict)  # features.feed.feed_record


def typed(frame: pd.DataFrame, as_of: pd.Timestamp, fills: dict, cfg: Config) -> pd.DataFrame:
    """A raw feature frame as `build_matrix` returns it: cutoff column, fills and types."""
    from features.matrix import fill_and_type

    frame.insert(1, "cutoff", pd.Series(as_of, index=frame.index).astype("datetime64[us, UTC]"))
    return fill_and_type(frame, fills, cfg)


def spark_features(
    data: Path, cfg: Config, as_of: pd.Timestamp, master: str, conf: dict[str, str] | None = None
) -> tuple[pd.DataFrame, int, SparkFeatures]:
    """The validated day's features on Spark: pandas matrix, active customers, Spark DataFrame."""
    from pyspark.sql import SparkSession

    from features.feed import check_feeds, feed_record
    from features.matrix import feature_table
    from features.snapshots import active_customers, build_snapshot, observed_until

    with catalog.validated(data, cfg, "spark", master, conf) as (dataset, report):
        feed = feed_record(check_feeds(dataset, cfg, as_of), cfg)
        snapshot = build_snapshot(dataset, cfg, as_of, observed_until(dataset, cfg))
        table, fills = feature_table(dataset, cfg, as_of, snapshot)
        frame = SparkSession.getActiveSession().sql(dataset.con.compile(table)).cache()
        # The driver still reads the matrix once for the population, spec and drift checks.
        matrix = typed(frame.orderBy("customer_id").toArrow().to_pandas(), as_of, fills, cfg)
        consent = catalog.consent(dataset, cfg)
        features = SparkFeatures(frame, fills, as_of, report.quality(), consent, feed)
        return matrix, active_customers(dataset, cfg, as_of), features


def score_on_spark(
    features: SparkFeatures,
    bundle: ModelBundle,
    book: ReasonBook,
    value_source: ValueSource,
    cfg: Config,
    model_version: str,
) -> pd.DataFrame:
    """Every customer's explained rows, computed on Spark's executors, sorted by customer_id."""
    # Text and plain dicts travel to the executors; the booster is rebuilt from its text there
    # (an ExpectedValue value source likewise: its value model pickles as its text).
    model_text = bundle.booster.model_to_string()
    calibrator, spec = bundle.calibrator.to_dict(), bundle.spec.to_dict()
    reference, fills, as_of = bundle.reference, features.fills, features.as_of
    grouped = cfg.scoring.explainer == "grouped"

    def score_partition(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import lightgbm as lgb

        from models.calibration import Calibrator
        from models.contributions import tree_splits
        from models.scoring import score_and_explain
        from models.spec import FeatureSpec

        booster = lgb.Booster(model_str=model_text)
        local = ModelBundle(
            booster, Calibrator.from_dict(calibrator), FeatureSpec.from_dict(spec), reference
        )
        trees = tree_splits(booster) if grouped else None
        for part in parts:
            chunk = typed(part, as_of, fills, cfg)
            yield score_and_explain(chunk, local, book, value_source, model_version, 1, trees)

    scored = features.frame.mapInPandas(score_partition, EXPLAINED.spark_ddl())
    rows = scored.toArrow().to_pandas().sort_values("customer_id", ignore_index=True)
    rows["as_of"] = rows["as_of"].astype("datetime64[us, UTC]")
    return rows
