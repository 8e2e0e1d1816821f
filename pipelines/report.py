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
    """Read the dataset for the parts that need it: features, test labels, retention."""
    from features.matrix import build_matrix

    inputs = ReportInputs(scores=scores, cfg=cfg, bundle=bundle, evaluation=evaluation)
    if data is None:
        inputs.notes.append("no dataset given (--data): drivers and retention are not shown")
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
        inputs.lifetimes, inputs.revenue, inputs.until = lifetimes_and_revenue(dataset, cfg)
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
) -> Path:
    """`churn report`: read scores, model and data, write the HTML atomically, log it to mlflow."""
    frame, manifest = catalog.load_scores(scores)
    # Default to the very model and dataset that produced the scores.
    uri = model or (manifest.model_uri if manifest else None)
    uri = uri or resolve_model_uri(None, cfg.training.model_name)
    source = data or (Path(manifest.data_source) if manifest else None)
    if source is not None and not Path(source).exists():
        log.warning("dataset %s from the scores manifest is gone: drivers not shown", source)
        source = None
    bundle = catalog.resolve_model(uri, cfg.training.model_name).bundle
    record = catalog.load_evaluation(uri)
    evaluation = EvaluationReport.from_dict(record) if record else None
    inputs = gather_inputs(frame, cfg, bundle, evaluation, source)
    inputs.model_label = (manifest.model_version if manifest else None) or uri
    text = build_report(inputs, cfg.report.shap_sample_rows, cfg.training.seed)
    path = catalog.write_report(text, Path(out))
    if log_to_mlflow:
        catalog.log_report(uri, path)
    return path
