"""`churn evaluate`, as wiring: a model's metrics on one labelled cutoff (default: the latest)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.config import Config
from features.errors import ChurnError
from models.evaluation import classification_metrics, leakage_flags
from models.fitting import ECE_BINS, evaluation_rows, test_value, value_evaluation
from models.profit import profit_evaluation
from models.registry import resolve_model_uri
from pipelines import catalog

log = logging.getLogger(__name__)


def ground_truth_metrics(data: Path, rows: pd.DataFrame, horizon_days: int) -> dict:
    """Metrics of the synthetic world's true churn probabilities on the same rows: the ceiling
    a model can approach (the generator saves them in `truth/`)."""
    from features.synth import true_churn_probability

    truth = true_churn_probability(data, sorted(rows["cutoff"].unique()), horizon_days)
    joined = rows[["customer_id", "cutoff", "churned"]].merge(
        truth, on=["customer_id", "cutoff"], how="left", validate="one_to_one"
    )
    if joined["true_probability"].isna().any():
        raise ChurnError("truth/ does not cover every evaluated customer; regenerate the world")
    return classification_metrics(
        joined["churned"].to_numpy(), joined["true_probability"].to_numpy()
    )


PART_WORDS = {"train": "training", "valid": "validation"}


def in_sample_part(record: dict | None, cutoff: pd.Timestamp) -> str | None:
    """ "train" or "valid" if the model's evaluation record names `cutoff` among the cutoffs it
    trained or was validated (early stopping, calibration) on; None otherwise or if unknown."""
    try:
        cutoffs = record["split"]["cutoffs"]
    except (KeyError, TypeError):
        return None
    day = f"{pd.Timestamp(cutoff):%Y-%m-%d}"
    for part in ("train", "valid"):
        if day in {f"{pd.Timestamp(c):%Y-%m-%d}" for c in cutoffs.get(part) or []}:
            return part
    return None


def run_evaluate(
    data: Path,
    cfg: Config,
    var_dir: Path,
    model: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict:
    """Metrics, the decisions' profit and leakage flags of a model on one labelled cutoff."""
    from features.matrix import build_matrix
    from features.snapshots import training_cutoffs

    catalog.use_model_store(var_dir, create=False)
    resolved = catalog.resolve_model(model, cfg.training.model_name)
    with catalog.dataset(data, cfg) as dataset:
        cutoff = as_of if as_of is not None else training_cutoffs(dataset, cfg)[-1]
        rows = evaluation_rows(build_matrix(dataset, cfg, [cutoff]))
    label = rows["churned"].to_numpy()
    bundle = resolved.bundle
    probability = bundle.predict_proba(rows)
    result = {
        "model": resolve_model_uri(model, cfg.training.model_name),
        "cutoff": f"{pd.Timestamp(cutoff):%Y-%m-%d}",
        "ece_bins": ECE_BINS,
        "metrics": classification_metrics(label, probability),
        "decisions": profit_evaluation(
            label, probability, test_value(rows, cfg, bundle), cfg.decisions
        ),
        "leakage_flags": leakage_flags(rows, bundle.spec.names, cfg.training.leakage_auc),
    }
    # The value model and trailing revenue against the revenue actually paid after the cutoff.
    if (value := value_evaluation(bundle, rows, cfg)) is not None:
        result["value"] = value
    part = in_sample_part(catalog.load_evaluation(resolved.uri), cutoff)
    result["in_sample"] = part is not None
    if part is not None:
        result["warning"] = (
            f"cutoff {result['cutoff']} is a {PART_WORDS[part]} cutoff of this model: metrics are "
            "in-sample and overstate it; evaluate on a later cutoff (default: the latest)"
        )
        log.warning("%s", result["warning"])
    if (Path(data) / "truth").is_dir():
        result["ground_truth"] = ground_truth_metrics(Path(data), rows, cfg.snapshots.horizon_days)
    if bundle.spec.config_fingerprint and bundle.spec.config_fingerprint != cfg.fingerprint():
        log.warning(
            "the model was trained with a different config (fingerprint %s, now %s)",
            bundle.spec.config_fingerprint,
            cfg.fingerprint(),
        )
    return result
