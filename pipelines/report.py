"""`churn report`, as wiring: scores, model, evaluation record and dataset read through the
catalog, the HTML built by `reporting.report.build_report`, written atomically.

Sections whose inputs are missing (no dataset, no evaluation record) say so instead of failing:
a report of the scores alone is still useful.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.config import Config
from models.bundle import ModelBundle
from models.fitting import EvaluationReport
from models.registry import resolve_model_uri
from pipelines import catalog
from reporting.report import build_report
from reporting.retention import lifetimes_and_revenue
from reporting.sections import ReportInputs

log = logging.getLogger(__name__)


def gather_inputs(
    scores: pd.DataFrame,
    cfg: Config,
    bundle: ModelBundle | None,
    evaluation: EvaluationReport | None,
    data: Path | None,
) -> ReportInputs:
    """Read the dataset for the parts that need it: features, test labels, retention, profiles."""
    from features.matrix import build_matrix

    inputs = ReportInputs(scores=scores, cfg=cfg, bundle=bundle, evaluation=evaluation)
    if data is None:
        inputs.notes.append(
            "no dataset given (--data): drivers, waterfalls, segments and retention are not shown"
        )
        return inputs
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    cutoffs = [as_of]
    test_cutoff = test_cutoff_of(evaluation)
    if test_cutoff is not None and test_cutoff != as_of:
        cutoffs.append(test_cutoff)
    with catalog.dataset(data, cfg) as dataset:
        if bundle is not None:
            matrix = build_matrix(dataset, cfg, cutoffs)
            now = matrix[matrix["cutoff"] == as_of]
            inputs.features = now[now["customer_id"].isin(scores["customer_id"])]
            if test_cutoff is not None:
                test = matrix[(matrix["cutoff"] == test_cutoff) & matrix["churned"].notna()]
                inputs.test_rows = test if len(test) else None
        retention = lifetimes_and_revenue(dataset, cfg, as_of)
        inputs.lifetimes, inputs.revenue, inputs.until = retention
        profile = [c for c in cfg.features.categorical_columns if c in dataset.customers.columns]
        if profile:
            inputs.profiles = dataset.customers.select("customer_id", *profile).to_pandas()
    return inputs


def test_cutoff_of(evaluation: EvaluationReport | None) -> pd.Timestamp | None:
    """The out-of-time test cutoff the model was evaluated on, if the record names one."""
    try:
        return pd.Timestamp(evaluation.split["cutoffs"]["test"][-1], tz="UTC")
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def run_report(
    scores: Path,
    out: Path,
    cfg: Config,
    model: str | None = None,
    data: Path | None = None,
    log_to_mlflow: bool = True,
    as_of: str | None = None,
    var_dir: Path | None = None,
) -> Path:
    """`churn report`: read the day's scores (default: the latest), the model and the data,
    write the HTML atomically, and log it to a reporting run of its own in mlflow."""
    frame, manifest = catalog.load_decided_scores(scores, as_of)
    # Default to the very model and dataset that produced the scores.
    uri = model or (manifest.model_uri if manifest else None)
    uri = uri or resolve_model_uri(None, cfg.training.model_name)
    source = data or (Path(manifest.data_source) if manifest else None)
    if source is not None and not Path(source).exists():
        log.warning("dataset %s from the scores manifest is gone: drivers not shown", source)
        source = None
    resolved = catalog.resolve_model(uri, cfg.training.model_name)
    record = catalog.load_evaluation(uri)
    evaluation = EvaluationReport.from_dict(record) if record else None
    inputs = gather_inputs(frame, cfg, resolved.bundle, evaluation, source)
    inputs.model_label = (manifest.model_version if manifest else None) or uri
    day = f"{pd.Timestamp(frame['as_of'].iloc[0]):%Y-%m-%d}"
    history(inputs, scores, day, var_dir)
    text, shared = build_report(inputs, cfg.report.shap_sample_rows, cfg.training.seed)
    path = catalog.write_report(text, Path(out))
    if log_to_mlflow:  # the copy without customer ids: forgetting one cannot reach mlflow
        catalog.log_report(resolved.uri, shared, path.name, cfg.name, day, resolved.version)
    return path


def history(inputs: ReportInputs, scores: Path, day: str, var_dir: Path | None) -> None:
    """The day's manifest, the nights up to it and the backtest ledger's nights up to it."""
    inputs.nights = catalog.night_manifests(scores, until=day)
    inputs.manifest = next((n for n in inputs.nights if n["as_of"] == day), None)
    ledger, places = catalog.find_ledger(scores, var_dir)
    if ledger is not None:
        inputs.ledger = ledger[ledger["as_of"].astype(str) <= day].reset_index(drop=True)
    looked = " or ".join(str(place) for place in places) or "beside the scores"
    inputs.ledger_hint = (
        f"No backtest ledger was found ({looked}). Once a night's label window has passed, "
        f"run `churn backtest --data DATA --scores {scores} --out DIR` (DIR: the scores' "
        "folder or --var-dir) and report again."
    )
