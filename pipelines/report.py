"""`churn report`: the self-contained HTML report of churn drivers, tiers and retention.

This is the I/O: loading scores, the model, its evaluation record and the dataset, then writing
the HTML. `reporting.report.build_report` turns those frames and the bundle into HTML and is what
tests and notebooks call. Sections whose inputs are missing (no dataset, no evaluation record)
say so instead of failing: a report of the scores alone is still useful.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.errors import ChurnError
from models.bundle import ModelBundle
from reporting.report import build_report
from reporting.sections import ReportInputs

log = logging.getLogger(__name__)


# ---------- loading (I/O) ----------


def scores_folder(path: Path) -> Path:
    """Accept the score job's --out folder or its `scores/` folder."""
    path = Path(path)
    return path / "scores" if (path / "scores").is_dir() else path


def load_scores(path: Path, as_of: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The scores of one day (default: the latest `as_of=` partition) and its manifest."""
    root = scores_folder(path)
    days = sorted(p for p in root.glob("as_of=*") if p.is_dir() and any(p.glob("*.parquet")))
    if as_of is not None:
        days = [p for p in days if p.name == f"as_of={as_of}"]
    if not days:
        raise ChurnError(
            f"scores {root}: no as_of=YYYY-MM-DD folder with Parquet parts; "
            "run `churn score --out DIR` first and pass that DIR"
        )
    day = days[-1]
    scores = pd.concat(
        [pd.read_parquet(part) for part in sorted(day.glob("*.parquet"))], ignore_index=True
    )
    manifest_path = day / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return scores, manifest


def load_evaluation(uri: str) -> dict | None:
    """The evaluation record the training run wrote for this model, if it can be found."""
    local = Path(uri)
    if local.is_dir():
        for candidate in (local / "evaluation.json", local.parent / "evaluation.json"):
            if candidate.is_file():
                return json.loads(candidate.read_text())
        return None
    run_id = _model_run_id(uri)
    if run_id is None:
        return None
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/report/evaluation.json")
    except Exception as exc:  # a missing artifact is a gap in the report, not a failure
        log.warning("no evaluation record for %s: %s", uri, str(exc).splitlines()[0])
        return None


def _model_run_id(uri: str) -> str | None:
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


def retention_inputs(dataset, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Customer lifetimes (signup, churn moment) and monthly revenue, read from the dataset."""
    from features.snapshots import observed_until

    until = observed_until(dataset, cfg)
    customers = dataset.customers.select("customer_id", "signup_at").to_pandas()
    events = dataset.events
    if cfg.churn.source == "events":
        lost = events.filter(events.event.isin(cfg.churn.events))
        lost = lost.group_by("customer_id").aggregate(churned_at=lost.ts.min()).to_pandas()
    else:
        # Non-contractual: lost when the inactivity window after the last activity runs out.
        active = events.filter(events.event.isin(cfg.signals.activity))
        last = active.group_by("customer_id").aggregate(last=active.ts.max()).to_pandas()
        lapse = last["last"] + pd.Timedelta(days=int(cfg.churn.inactive_days or 0))
        lost = pd.DataFrame(
            {"customer_id": last["customer_id"], "churned_at": lapse.where(lapse < until)}
        )
    lifetimes = customers.merge(lost, on="customer_id", how="left")
    lifetimes["churned_at"] = pd.to_datetime(lifetimes["churned_at"], utc=True)
    lifetimes["signup_at"] = pd.to_datetime(lifetimes["signup_at"], utc=True)
    revenue = pd.DataFrame(columns=["customer_id", "month", "revenue"])
    if cfg.signals.payment and "value" in events.columns:
        paid = events.filter(events.event.isin(cfg.signals.payment))
        monthly = (
            paid.group_by("customer_id", year=paid.ts.year(), month=paid.ts.month())
            .aggregate(revenue=paid.value.sum())
            .to_pandas()
        )
        revenue = pd.DataFrame(
            {
                "customer_id": monthly["customer_id"],
                "month": pd.to_datetime(
                    {"year": monthly["year"], "month": monthly["month"], "day": 1}, utc=True
                ),
                "revenue": monthly["revenue"].astype("float64"),
            }
        )
    return lifetimes, revenue, until


def gather_inputs(
    scores: pd.DataFrame,
    cfg: Config,
    bundle: ModelBundle | None,
    evaluation: dict | None,
    data: Path | None,
) -> ReportInputs:
    """Read the dataset for the parts that need it: features, test labels, retention."""
    inputs = ReportInputs(scores=scores, cfg=cfg, bundle=bundle, evaluation=evaluation)
    if data is None:
        inputs.notes.append("no dataset given (--data): drivers and retention are not shown")
        return inputs
    from features.dataset import open_dataset
    from features.matrix import build_matrix
    from features.validation import validate_dataset

    dataset = validate_dataset(open_dataset(data), cfg).dataset
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    cutoffs = [as_of]
    test_cutoff = _test_cutoff(evaluation)
    if test_cutoff is not None and test_cutoff != as_of:
        cutoffs.append(test_cutoff)
    if bundle is not None:
        matrix = build_matrix(dataset, cfg, cutoffs)
        now = matrix[matrix["cutoff"] == as_of]
        inputs.features = now[now["customer_id"].isin(scores["customer_id"])]
        if test_cutoff is not None:
            test = matrix[(matrix["cutoff"] == test_cutoff) & matrix["churned"].notna()]
            inputs.test_rows = test if len(test) else None
    inputs.lifetimes, inputs.revenue, inputs.until = retention_inputs(dataset, cfg)
    return inputs


def _test_cutoff(evaluation: dict | None) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(evaluation["split"]["cutoffs"]["test"][-1], tz="UTC")
    except (KeyError, IndexError, TypeError):
        return None


# ---------- the job ----------


def run_report(
    scores: Path,
    out: Path,
    cfg: Config,
    model: str | None = None,
    data: Path | None = None,
    log_to_mlflow: bool = True,
) -> Path:
    """`churn report`: read scores, model and data, write the HTML atomically, log it to mlflow."""
    from models.registry import load_bundle

    frame, manifest = load_scores(scores)
    # Default to the very model and dataset that produced the scores.
    uri = model or manifest.get("model", {}).get("uri")
    if uri is None:
        from models.registry import resolve_model_uri

        uri = resolve_model_uri(None, cfg.training.model_name)
    source = data or (Path(manifest["data"]["source"]) if "data" in manifest else None)
    if source is not None and not Path(source).exists():
        log.warning("dataset %s from the scores manifest is gone: drivers not shown", source)
        source = None
    bundle = load_bundle(uri)
    evaluation = load_evaluation(uri)
    inputs = gather_inputs(frame, cfg, bundle, evaluation, source)
    inputs.model_label = manifest.get("model", {}).get("version") or uri
    text = build_report(inputs, cfg.training.shap_sample_rows, cfg.training.seed)
    with atomic_file(Path(out)) as staging:
        Path(staging).write_text(text, encoding="utf-8")
        staging.chmod(0o644)  # a report is for reading: not the temp file's owner-only mode
    log.info("report written to %s", out)
    if log_to_mlflow:
        _log_report(uri, Path(out))
    return Path(out)


def _log_report(uri: str, path: Path) -> None:
    """Attach the report to the model's training run, beside the evaluation record."""
    run_id = _model_run_id(uri)
    if run_id is None:
        return
    from mlflow import MlflowClient

    MlflowClient().log_artifact(run_id, str(path), "report")
    log.info("report logged to mlflow run %s", run_id)
