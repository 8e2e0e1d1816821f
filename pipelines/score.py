"""The nightly scoring job: champion model -> features as of a date -> calibrated probability ->
exact TreeSHAP contributions -> reason codes -> value and tiers -> scores written atomically.

The model is resolved once (an alias becomes a fixed version before anything is loaded), its
feature spec is checked against what this code and config build, the drift guard runs before
anything is committed, and the day's folder `scores/as_of=YYYY-MM-DD/` appears whole or not at
all. Prediction and explanation run chunk by chunk, so their memory does not grow with customers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_directory
from features.config import Config
from features.errors import ChurnError, DataContractError
from models.bundle import ModelBundle
from models.contributions import TreeSplits, exact_contributions, tree_splits
from models.drift import DriftAccumulator, drift_summary, enforce
from models.explain import ReasonBook, reason_codes
from models.tiers import TIERS, assign_tiers, check_value_source, customer_value, suggest_action

log = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "risk_tier",
    "value",
    "value_tier",
    "tier",
    "expected_loss",
    "reason_1",
    "reason_2",
    "reason_3",
    "reason_1_contribution",
    "reason_2_contribution",
    "reason_3_contribution",
    "action",
    "model_version",
]


class ModelMismatchError(ChurnError):
    """The model expects features other than those this code and config build."""


@dataclass(frozen=True)
class ResolvedModel:
    uri: str
    version: str  # what every row records, e.g. "churn-synthetic/3"
    bundle: ModelBundle


@dataclass
class ScoreOutputs:
    folder: Path
    manifest: dict
    timings: dict = field(default_factory=dict)
    # A seeded sample of the day's feature rows, when asked for (benchmarks compare explainers).
    sample: pd.DataFrame | None = None


# ---------- model resolution and the spec check ----------


def resolve_model(model: str | None, cfg: Config) -> ResolvedModel:
    """Turn `--model` (or the champion alias) into one fixed version and load it once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import load_bundle, resolve_model_uri

    uri = resolve_model_uri(model, cfg.training.model_name)
    if Path(uri).is_dir():
        return ResolvedModel(uri, f"file:{Path(uri).resolve().name}", load_bundle(uri))
    if uri.startswith("models:/") and "@" in uri:
        # Pin the alias first: if it moves while we download, we still load what we record.
        name, alias = uri.removeprefix("models:/").split("@", 1)
        try:
            version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            raise ChurnError(
                f"model {uri}: no such registered model or alias "
                f"({exc.message.splitlines()[0]}); train one with `churn train` or pass --model"
            ) from None
        uri = f"models:/{name}/{version}"
    label = uri.removeprefix("models:/") if uri.startswith("models:/") else uri
    return ResolvedModel(uri, label, load_bundle(uri))


def spec_problems(bundle: ModelBundle, names: list[str], dtypes: dict[str, str], cfg: Config):
    """What differs between the model's feature spec and what this code and config build."""
    spec = bundle.spec
    problems = []
    missing = [name for name in spec.names if name not in names]
    extra = [name for name in names if name not in spec.names]
    if missing:
        problems.append(f"the model needs {len(missing)} feature(s) not built: {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} built feature(s) the model does not know: {extra[:5]}")
    kinds = [
        f"{name} ({spec.dtypes[name]} in the model, {dtypes[name]} now)"
        for name in spec.names
        if name in dtypes and spec.dtypes[name] != dtypes[name]
    ]
    if kinds:
        problems.append(f"{len(kinds)} feature type(s) differ: {kinds[:5]}")
    if not missing and not extra and list(names) != list(spec.names):
        problems.append("features are built in another order than the model's")
    wanted = spec.extra.get("features_fingerprint") if spec.extra else None
    if wanted:
        if wanted != cfg.features_fingerprint():
            problems.append(
                f"feature config fingerprint {wanted} in the model, "
                f"{cfg.features_fingerprint()} now (signals, churn, snapshots or features differ)"
            )
    elif spec.config_fingerprint and spec.config_fingerprint != cfg.fingerprint():
        problems.append(
            f"config fingerprint {spec.config_fingerprint} in the model, {cfg.fingerprint()} now "
            "(score with the config the model was trained with)"
        )
    return problems


def built_dtypes(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Each built feature's kind in the spec's terms: category or float64."""
    return {
        name: "category" if isinstance(frame[name].dtype, pd.CategoricalDtype) else "float64"
        for name in names
    }


def check_spec(bundle: ModelBundle, matrix: pd.DataFrame, cfg: Config, uri: str) -> None:
    """Refuse a model whose feature spec differs from what is built; warn on unseen levels."""
    from features.matrix import feature_columns

    names = feature_columns(matrix)
    problems = spec_problems(bundle, names, built_dtypes(matrix, names), cfg)
    if problems:
        raise ModelMismatchError(
            f"model {uri} does not match the features this code and config build: "
            + "; ".join(problems)
            + "; retrain with this config (churn train) or score with the model's config"
        )
    for name, levels in bundle.spec.categories.items():
        column = matrix[name]
        unseen = column.notna() & ~column.astype("str").isin(levels)
        if unseen.any():
            examples = sorted(column[unseen].astype("str").unique())[:3]
            log.warning(
                "%s: %d row(s) with levels unseen in training (e.g. %s) are scored as missing",
                name,
                int(unseen.sum()),
                examples,
            )


# ---------- pure steps ----------


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive row slices of at most `size` rows."""
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def lgb_threads(cfg: Config) -> int:
    """Threads for LightGBM prediction: as configured, or one per core."""
    return cfg.scoring.num_threads or os.cpu_count() or 1


def explain_matrix(
    bundle: ModelBundle, matrix: np.ndarray, threads: int, trees: list[TreeSplits] | None
) -> np.ndarray:
    """Exact TreeSHAP contributions (features then bias): LightGBM's native C++ TreeSHAP, once
    per distinct decision pattern of each tree when `trees` is given, else once per row."""
    if trees is None:
        return bundle.booster.predict(matrix, pred_contrib=True, num_threads=threads)
    return exact_contributions(bundle.booster, matrix, trees, threads)[0]


def score_and_explain(
    chunk: pd.DataFrame,
    bundle: ModelBundle,
    book: ReasonBook,
    value_source: str | None,
    cfg: Config,
    model_version: str,
    threads: int,
    timings: dict[str, float] | None = None,
    trees: list[TreeSplits] | None = None,
) -> pd.DataFrame:
    """The scores table rows for one chunk of the feature matrix (pure: features in, rows out).

    The one scoring function of both engines: the local chunk loop and Spark's `mapInPandas`.
    """
    timings = timings if timings is not None else new_timings()
    began = time.perf_counter()
    matrix = bundle.spec.to_matrix(chunk)
    raw = bundle.booster.predict(matrix, raw_score=True, num_threads=threads)
    probability = bundle.calibrator.apply(raw)
    predicted = time.perf_counter()
    contributions = explain_matrix(bundle, matrix, threads, trees)
    gap = float(np.max(np.abs(contributions.sum(axis=1) - raw))) if len(raw) else 0.0
    if gap > 1e-6:  # exactness is the contract; never ship reasons that do not add up
        raise ChurnError(f"internal: contributions differ from the raw score by {gap:.2e}")
    reasons = reason_codes(contributions[:, :-1], chunk, book)
    explained = time.perf_counter()
    value = customer_value(chunk, value_source)
    tiers = assign_tiers(probability, value, cfg.scoring.tiers)
    rows = pd.DataFrame(
        {
            "customer_id": chunk["customer_id"].to_numpy(),
            "as_of": chunk["cutoff"].to_numpy(),
            "churn_probability": probability,
        }
    )
    rows = pd.concat([rows, tiers, reasons.reset_index(drop=True)], axis=1)
    rows["action"] = suggest_action(rows.pop("reason_1_family").to_numpy(), cfg.scoring)
    rows["model_version"] = model_version
    timings["predict"] += predicted - began
    timings["explain"] += explained - predicted
    timings["tiers"] += time.perf_counter() - explained
    return rows[SCORE_COLUMNS]


SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("as_of", pa.timestamp("us", tz="UTC")),
        ("churn_probability", pa.float64()),
        ("risk_tier", pa.string()),
        ("value", pa.float64()),
        ("value_tier", pa.string()),
        ("tier", pa.string()),
        ("expected_loss", pa.float64()),
        ("reason_1", pa.string()),
        ("reason_2", pa.string()),
        ("reason_3", pa.string()),
        ("reason_1_contribution", pa.float64()),
        ("reason_2_contribution", pa.float64()),
        ("reason_3_contribution", pa.float64()),
        ("action", pa.string()),
        ("model_version", pa.string()),
    ]
)


def write_part(rows: pd.DataFrame, path: Path) -> None:
    """One Parquet part with the fixed schema (same input, same bytes)."""
    table = pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def tier_summary(rows: pd.DataFrame) -> dict:
    """Customers, revenue at risk (sum of expected loss) and value per tier, for one chunk."""
    grouped = rows.groupby("tier", observed=True).agg(
        customers=("customer_id", "size"),
        revenue_at_risk=("expected_loss", "sum"),
        value=("value", "sum"),
    )
    return {
        tier: {
            "customers": int(grouped.at[tier, "customers"]) if tier in grouped.index else 0,
            "revenue_at_risk": float(grouped.at[tier, "revenue_at_risk"])
            if tier in grouped.index
            else 0.0,
            "value": float(grouped.at[tier, "value"]) if tier in grouped.index else 0.0,
        }
        for tier in TIERS
    }


def add_tiers(total: dict, part: dict) -> dict:
    return {
        tier: {key: total.get(tier, {}).get(key, 0) + value for key, value in part[tier].items()}
        for tier in TIERS
    }


def matrix_fingerprint(matrix: pd.DataFrame) -> dict:
    """Hash and shape of the day's feature matrix; never a customer id in clear."""
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(matrix, index=False).to_numpy().tobytes()
    ).hexdigest()
    return {"hash": digest[:16], "rows": len(matrix), "columns": matrix.shape[1]}


# ---------- the job ----------


def check_population(matrix: pd.DataFrame, expected: int | None, as_of: pd.Timestamp) -> None:
    """Fail on an empty day, duplicate customers, or a row count off the active population."""
    day = f"{as_of:%Y-%m-%d}"
    if matrix.empty:
        raise DataContractError(
            [
                f"scoring: no customer is active at {day}; pick an --as-of inside the data "
                "(after the first signups and no later than the day after the last event)"
            ]
        )
    duplicates = int(matrix["customer_id"].duplicated().sum())
    if duplicates:
        raise DataContractError([f"scoring: {duplicates} customer(s) appear twice at {day}"])
    if expected is not None and expected != len(matrix):
        raise DataContractError(
            [f"scoring: {len(matrix)} feature rows but {expected} customers active at {day}"]
        )


def active_customers(dataset, cfg: Config, as_of: pd.Timestamp) -> int:
    """Count the snapshot independently of the feature join, as a row-count guard."""
    from features.snapshots import build_snapshot, observed_until

    snapshot = build_snapshot(dataset, cfg, as_of, observed_until(dataset, cfg))
    return int(snapshot.count().to_pyarrow().as_py())


def build_features(data: Path, cfg: Config, as_of: pd.Timestamp) -> tuple[pd.DataFrame, int]:
    """Validate the dataset (writing nothing on bad input), then the matrix as of the date."""
    from features.matrix import build_matrix
    from features.validated import validated_dataset

    with validated_dataset(data, cfg) as dataset:
        matrix = build_matrix(dataset, cfg, [as_of])
        return matrix, active_customers(dataset, cfg, as_of)


def score_frame(
    matrix: pd.DataFrame,
    resolved: ResolvedModel,
    cfg: Config,
    staging: Path,
    allow_drift: bool,
    timings: dict[str, float],
    spark_features=None,
) -> dict:
    """Score the matrix chunk by chunk into `staging`; return tiers and drift for the manifest.

    With `spark_features` (the same matrix as a Spark DataFrame) scoring runs on Spark instead.
    """
    from features.matrix import feature_columns

    bundle = resolved.bundle
    names = feature_columns(matrix)
    book = ReasonBook.build(bundle.spec.names, cfg, list(bundle.spec.categories))
    value_source = check_value_source(list(matrix.columns), cfg)
    threads = lgb_threads(cfg)
    scoring = cfg.scoring
    trees = tree_splits(bundle.booster) if scoring.explainer == "grouped" else None

    began = time.perf_counter()
    drift = DriftAccumulator(bundle.reference)
    for chunk in chunks(matrix[names], scoring.chunk_customers):
        drift.add_features(chunk)
    early = drift_summary(
        drift, scoring.drift_warn_psi, scoring.drift_fail_psi, scoring.drift_exempt
    )
    if early["failed"] and not allow_drift:
        enforce(early, allow_drift)  # fail before spending time on predictions
    timings["drift"] += time.perf_counter() - began

    if spark_features is not None:
        began = time.perf_counter()
        scored = spark_scores(spark_features, resolved, book, value_source, cfg)
        timings["predict"] += time.perf_counter() - began  # predict and explain, on Spark
        parts = chunks(scored, scoring.chunk_customers)
    else:
        parts = (
            score_and_explain(
                chunk, bundle, book, value_source, cfg, resolved.version, threads, timings, trees
            )
            for chunk in chunks(matrix, scoring.chunk_customers)
        )
    tiers: dict = {}
    for number, rows in enumerate(parts):
        drift.add_scores(rows["churn_probability"].to_numpy())
        tiers = add_tiers(tiers, tier_summary(rows))
        began = time.perf_counter()
        write_part(rows, staging / f"part-{number:05d}.parquet")
        timings["write"] += time.perf_counter() - began
        log.info("scored %s of %s customers", f"{number * scoring.chunk_customers + len(rows):,}",
                 f"{len(matrix):,}")  # fmt: skip
    summary = drift_summary(
        drift, scoring.drift_warn_psi, scoring.drift_fail_psi, scoring.drift_exempt
    )
    enforce(summary, allow_drift)
    summary["allowed"] = bool(summary["failed"]) and allow_drift
    return {"tiers": tiers, "drift": summary, "threads": threads}


def spark_scores(frame, resolved: ResolvedModel, book, value_source, cfg: Config) -> pd.DataFrame:
    """Score a Spark DataFrame of features with `score_and_explain`, collected by customer_id."""
    from pipelines.spark_scoring import score_on_spark

    return score_on_spark(frame, resolved.bundle, book, value_source, cfg, resolved.version)


def utc_day(as_of: pd.Timestamp) -> pd.Timestamp:
    as_of = pd.Timestamp(as_of)
    return as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")


def new_timings() -> dict[str, float]:
    return dict.fromkeys(
        ("model", "features", "drift", "predict", "explain", "tiers", "write"), 0.0
    )


def run_score(
    data: Path,
    cfg: Config,
    as_of: pd.Timestamp,
    out: Path,
    model: str | None = None,
    allow_drift: bool = False,
    sample_rows: int = 0,
    engine: str = "duckdb",
    spark_master: str = "local[*]",
    spark_conf: dict[str, str] | None = None,
) -> ScoreOutputs:
    """`churn score`: write `out/scores/as_of=YYYY-MM-DD/` (parts + manifest.json) atomically."""
    started = time.perf_counter()
    as_of = utc_day(as_of)
    timings = new_timings()
    resolved = resolve_model(model, cfg)
    timings["model"] = time.perf_counter() - started

    began = time.perf_counter()
    frame = None  # the matrix as a Spark DataFrame, with --engine spark
    if engine == "duckdb":
        matrix, active = build_features(Path(data), cfg, as_of)
    else:
        from pipelines.spark_scoring import spark_features

        matrix, active, frame = spark_features(Path(data), cfg, as_of, spark_master, spark_conf)
    timings["features"] = time.perf_counter() - began
    return score_day(
        matrix,
        active,
        resolved,
        cfg,
        as_of,
        out,
        allow_drift,
        str(data),
        timings,
        sample_rows,
        frame,
    )


def score_day(
    matrix: pd.DataFrame,
    active: int,
    resolved: ResolvedModel,
    cfg: Config,
    as_of: pd.Timestamp,
    out: Path,
    allow_drift: bool,
    source: str,
    timings: dict[str, float],
    sample_rows: int = 0,
    spark_features=None,
) -> ScoreOutputs:
    """Check the day's matrix against the population and the model, then score and commit it."""
    from models.registry import git_commit

    began = time.perf_counter()
    check_population(matrix, active, as_of)
    check_spec(resolved.bundle, matrix, cfg, resolved.uri)
    folder = Path(out) / "scores" / f"as_of={as_of:%Y-%m-%d}"
    with atomic_directory(folder) as staging:
        result = score_frame(matrix, resolved, cfg, staging, allow_drift, timings, spark_features)
        written = sum(pq.read_metadata(p).num_rows for p in staging.glob("part-*.parquet"))
        if written != len(matrix):
            raise ChurnError(f"internal: wrote {written} rows for {len(matrix)} customers")
        timings["total"] = timings["model"] + timings["features"] + time.perf_counter() - began
        manifest = {
            "as_of": f"{as_of:%Y-%m-%d}",
            "model": {"uri": resolved.uri, "version": resolved.version},
            "code_version": git_commit(),
            "config_fingerprint": cfg.fingerprint(),
            "data": {"source": source, **matrix_fingerprint(matrix)},
            "rows": written,
            "active_customers": active,
            "tiers": result["tiers"],
            "drift": result["drift"],
            "lightgbm_threads": result["threads"],
            "explainer": cfg.scoring.explainer,
            "chunk_customers": cfg.scoring.chunk_customers,
            "timings_seconds": {key: round(value, 3) for key, value in timings.items()},
            "customers_per_second": round(written / max(timings["total"], 1e-9), 1),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log.info("wrote %s scores to %s", f"{written:,}", folder)
    sample = None
    if sample_rows:
        sample = matrix.sample(n=min(sample_rows, len(matrix)), random_state=0)
    return ScoreOutputs(folder, manifest, timings, sample)
