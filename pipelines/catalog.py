"""The catalog: every read and write the jobs make, in one place.

Datasets are opened one way (validated, cleaned, DuckDB's memory bounded); models are found
through one mlflow store; nightly scores are published per day, whole or not at all; run
folders, matrices and reports are written atomically. Jobs call these and pure steps, nothing
else touches files or mlflow.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_directory, atomic_file
from features.config import Config
from features.contract import SCORES
from features.dataset import Dataset, open_dataset
from features.errors import ChurnError
from features.validated import validated_dataset
from features.validation import ValidationReport, validate_dataset
from models.bundle import ModelBundle
from pipelines.manifest import ScoreManifest

log = logging.getLogger(__name__)

SCORES_ARROW = SCORES.arrow()
MANIFEST = "manifest.json"


# ---------- datasets ----------


@contextmanager
def dataset(
    path: Path | str,
    cfg: Config,
    engine: str = "duckdb",
    spark_master: str = "local[*]",
    spark_conf: dict[str, str] | None = None,
) -> Iterator[Dataset]:
    """The validated, cleaned dataset while the block runs (nothing is written on bad input)."""
    with validated_dataset(path, cfg, engine, spark_master, spark_conf) as opened:
        yield opened


def validation_report(path: Path | str, cfg: Config) -> ValidationReport:
    """Validate a dataset under the same memory bound, for `churn validate`."""
    from features.validated import bounded_duckdb

    opened = open_dataset(path)
    with bounded_duckdb(opened.con, cfg.engine.duckdb_memory_limit):
        return validate_dataset(opened, cfg)


def write_matrix(matrix: pd.DataFrame, out: Path) -> None:
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)


# ---------- the model store (mlflow tracking and registry) ----------


@dataclass(frozen=True)
class ResolvedModel:
    uri: str
    version: str  # what every score row records, e.g. "churn-synthetic/3"
    bundle: ModelBundle


def use_model_store(var_dir: Path) -> str:
    """Point mlflow at the store under `var_dir` (or MLFLOW_TRACKING_URI); no progress bars."""
    from models.registry import use_store

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return use_store(var_dir)


def resolve_model(model: str | None, model_name: str) -> ResolvedModel:
    """Turn `--model` (or the champion alias) into one fixed version and load it once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import load_bundle, resolve_model_uri

    uri = resolve_model_uri(model, model_name)
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


def model_run_id(uri: str) -> str | None:
    """The training run behind a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return None
    name = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in name:
            model, alias = name.split("@", 1)
            return client.get_model_version_by_alias(model, alias).run_id
        model, version = name.rsplit("/", 1)
        return client.get_model_version(model, version).run_id
    except MlflowException:
        return None


def load_evaluation(uri: str) -> dict | None:
    """The evaluation record the training run wrote for this model, if it can be found."""
    local = Path(uri)
    if local.is_dir():
        for candidate in (local / "evaluation.json", local.parent / "evaluation.json"):
            if candidate.is_file():
                return json.loads(candidate.read_text())
        return None
    run_id = model_run_id(uri)
    if run_id is None:
        return None
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/report/evaluation.json")
    except Exception as exc:  # a missing artifact is a gap in the report, not a failure
        log.warning("no evaluation record for %s: %s", uri, str(exc).splitlines()[0])
        return None


def log_report(uri: str, path: Path) -> None:
    """Attach the report to the model's training run, beside the evaluation record."""
    run_id = model_run_id(uri)
    if run_id is None:
        return
    from mlflow import MlflowClient

    MlflowClient().log_artifact(run_id, str(path), "report")
    log.info("report logged to mlflow run %s", run_id)


# ---------- run folders and optuna studies ----------


def run_folder(var_dir: Path, run_id: str) -> Path:
    folder = Path(var_dir) / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def study_folder(var_dir: Path) -> Path:
    return Path(var_dir) / "optuna"


# ---------- nightly scores: OUT/scores/as_of=YYYY-MM-DD/ (parts + manifest.json) ----------


def scores_root(path: Path) -> Path:
    """Accept the score job's --out folder or its `scores/` folder."""
    path = Path(path)
    return path / "scores" if (path / "scores").is_dir() else path


def day_folder(out: Path, as_of: pd.Timestamp) -> Path:
    return Path(out) / "scores" / f"as_of={as_of:%Y-%m-%d}"


@contextmanager
def publish_day(out: Path, as_of: pd.Timestamp) -> Iterator[Path]:
    """A staging folder that becomes the day's folder only if the block succeeds."""
    with atomic_directory(day_folder(out, as_of)) as staging:
        yield staging


def write_scores_part(rows: pd.DataFrame, staging: Path, number: int) -> None:
    """One Parquet part with the contract's scores schema (same rows, same bytes)."""
    table = pa.Table.from_pandas(rows, schema=SCORES_ARROW, preserve_index=False)
    pq.write_table(table, staging / f"part-{number:05d}.parquet", compression="zstd")


def rows_written(staging: Path) -> int:
    return sum(pq.read_metadata(part).num_rows for part in staging.glob("part-*.parquet"))


def write_manifest(staging: Path, manifest: dict) -> None:
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def scored_days(path: Path) -> list[str]:
    """The dates (YYYY-MM-DD) of every published day under a scores folder, oldest first."""
    return sorted({part.parent.name[6:] for part in scores_root(path).glob("as_of=*/*.parquet")})


def load_scores(path: Path, as_of: str | None = None) -> tuple[pd.DataFrame, ScoreManifest | None]:
    """The scores of one day (default: the latest `as_of=` partition) and its manifest."""
    root = scores_root(path)
    days = [root / f"as_of={day}" for day in scored_days(root) if as_of in (None, day)]
    if not days:
        raise ChurnError(
            f"scores {root}: no as_of=YYYY-MM-DD folder with Parquet parts; "
            "run `churn score --out DIR` first and pass that DIR"
        )
    day = days[-1]
    scores = pd.concat(
        [pd.read_parquet(part) for part in sorted(day.glob("*.parquet"))], ignore_index=True
    )
    manifest_path = day / MANIFEST
    if not manifest_path.is_file():
        return scores, None
    return scores, ScoreManifest.from_dict(json.loads(manifest_path.read_text()))


def write_ledger(ledger: pd.DataFrame, record: dict, out: Path) -> Path:
    """`out/backtest/`: ledger.parquet and ledger.json (no customer id), whole or not at all."""
    with atomic_directory(Path(out) / "backtest") as staging:
        ledger.to_parquet(staging / "ledger.parquet", index=False)
        (staging / "ledger.json").write_text(json.dumps(record, indent=1) + "\n")
    return Path(out) / "backtest"


# ---------- reports ----------


def write_report(text: str, out: Path) -> Path:
    """The HTML report, atomically, readable by everyone (not the temp file's owner-only mode)."""
    with atomic_file(Path(out)) as staging:
        Path(staging).write_text(text, encoding="utf-8")
        staging.chmod(0o644)
    log.info("report written to %s", out)
    return Path(out)
