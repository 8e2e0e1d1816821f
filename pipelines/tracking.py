"""What the training job tells mlflow besides its metrics, so the UI reads as people expect: the
experiment's description, runs named "train <dataset> <date>", the training data as a dataset
input (name, digest and schema: never a row), model version descriptions with the test metrics
and the gate's decision, and the promotion history as a readable table.

The nightly scoring run is `pipelines.score_tracking`. Never a customer id or name in any of it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from features.config import Config
from models.bundle import ModelBundle
from models.fitting import EvaluationReport
from models.split import MatrixSplit

log = logging.getLogger(__name__)

HISTORY_ROWS = 15  # rows of the promotion history in the registered model's description
DESCRIPTION_LIMIT = 5000  # characters mlflow's stores keep in a description


def experiment_description(cfg: Config) -> str:
    """The experiment's description (`mlflow.note.content`), as the UI shows it."""
    name = cfg.training.model_name
    return (
        f"Churn model `{name}` on the {cfg.name} data. One run per training, named "
        f'"train {cfg.name} <latest cutoff>" (its tuning trials nested under it), and one per '
        f'scored night, named "score {cfg.name} <as of>". The registered model `{name}` '
        "(Models) holds the versions, each described with its test metrics and the promotion "
        "gate's decision, and the promotion history; `churn score` uses its `champion`."
    )


def train_run_name(cfg: Config, fingerprint: dict) -> str:
    """The run name "train <dataset> <date>": the date is the newest cutoff in the training
    data (the test cutoff), so the name says what the model knows; the start time says when."""
    return f"train {cfg.name} {fingerprint['date_range'][1]}"


def identity(cfg: Config, fingerprint: dict, code_version: str) -> dict[str, str]:
    """The run's and the version's record of what made the model (models.registry.IDENTITY_TAGS
    and the git commit, which is recorded but not compared)."""
    from models.registry import code_fingerprint

    return {
        "data_hash": fingerprint["hash"],
        "config_fingerprint": cfg.fingerprint(),
        "code_fingerprint": code_fingerprint(),
        "git_commit": code_version,
    }


def register(
    model_dir: Path, bundle: ModelBundle, split: MatrixSplit, name: str, identity: dict
) -> tuple[str, bool]:
    """The new version, or the one already registered from the same data, config and code."""
    from models import registry

    example = registry.signature_example(bundle, split.test)
    signature = registry.model_signature(bundle, example)
    return registry.register_unless_identical(model_dir, name, example, signature, identity)


def keep_identical(report: EvaluationReport, name: str, version: str) -> tuple[str, str]:
    """An identical retrain: no new version and no gate; the version found stays as it is."""
    from models import registry

    reason = f"identical to version {version}: not registered again (same data, config, code)"
    log.info("model %s: %s", name, reason)
    champion = registry.champion_version(name)
    report.gate = {"status": "identical", "reason": reason, "champion_version": champion}
    return "identical", reason


def log_inputs(
    cfg: Config, fingerprint: dict, split: MatrixSplit, identity: dict, config_path
) -> None:
    """Tags, the config as params and as a file, the data fingerprint and the package versions."""
    import mlflow

    from models.registry import flatten, log_environment

    mlflow.set_tags(
        {
            **identity,
            "split_method": split.method,
            **split.tags(),
            "validation": (
                f"stratified {cfg.training.cv_folds}-fold cross-validation"
                if split.cross_validated
                else "validation cutoff"
            ),
        }
    )
    mlflow.log_params(flatten(cfg.model_dump(mode="json")))
    mlflow.log_dict(cfg.model_dump(mode="json"), "config/config.yaml")
    mlflow.log_dict({"data": fingerprint, "split": split.summary()}, "data/fingerprint.json")
    log_environment()
    if config_path is not None:
        mlflow.set_tag("config_path", str(config_path))


def log_training_data(
    matrix: pd.DataFrame, cfg: Config, fingerprint: dict, source: Path | None
) -> None:
    """The training matrix as the run's dataset input (the UI's Datasets column): the config's
    name, the matrix hash as digest and the column names and types as schema, never a row; the
    counts as input tags. The source is the dataset folder when known."""
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.models import infer_signature

    if source is not None:
        location = json.dumps({"uri": str(Path(source).resolve())})
        origin = get_dataset_source_from_json(location, "local")
    else:
        origin = CodeDatasetSource({"built_by": "pipelines.train.train_on_matrix"})
    schema = infer_signature(matrix.head(0)).inputs
    dataset = MetaDataset(origin, name=cfg.name, digest=fingerprint["hash"], schema=schema)
    first, last = fingerprint["date_range"]
    tags = {
        "rows": str(fingerprint["rows"]),
        "customers": str(fingerprint["customers"]),
        "features": str(fingerprint["features"]),
        "cutoffs": f"{len(fingerprint['cutoffs'])} from {first} to {last}",
        "churn_rate": f"{fingerprint['churn_rate']:.4f}",
    }
    mlflow.log_input(dataset, context="training", tags=tags)


def metrics_line(metrics: dict) -> str:
    return (
        f"ROC AUC {metrics['roc_auc']:.4f}, PR AUC {metrics['pr_auc']:.4f}, "
        f"log loss {metrics['log_loss']:.4f}, ECE {metrics['ece']:.4f}"
    )


def version_description(
    report: EvaluationReport, run_name: str, identity: dict, status: str, reason: str
) -> str:
    """A model version's description: where it comes from, its test metrics, the gate."""
    test = report.model
    cutoffs = (report.split.get("cutoffs") or {}).get("test") or ["?"]
    baseline = report.baseline or {}
    lines = [
        f'Trained by run "{run_name}" (data {identity["data_hash"]}, config '
        f"{identity['config_fingerprint']}, code {identity['code_fingerprint']}, git "
        f"{identity['git_commit'][:12]}).",
        "",
        f"Test, out of time (cutoff {', '.join(cutoffs)}: {int(test.get('rows', 0)):,} "
        f"customers, {int(test.get('churners', 0)):,} churners): {metrics_line(test)}"
        + (
            f"; its baseline ({baseline.get('kind', 'baseline')}) ROC AUC "
            f"{baseline['roc_auc']:.4f}."
            if "roc_auc" in baseline
            else "."
        ),
        "",
        f"Promotion gate: {status}: {reason}",
    ]
    return "\n".join(lines)[:DESCRIPTION_LIMIT]


def describe_training(
    model_name: str,
    version: str,
    report: EvaluationReport,
    identical: bool,
    run_name: str,
    identity: dict,
) -> None:
    """The run's description; the new version's description (an identical retrain leaves the
    version it reuses as it was); the promotion history as run artifacts
    (`promotion/promotion_history.md` and `.json`) and in the registered model's description."""
    import mlflow
    from mlflow import MlflowClient

    from models import registry

    gate = report.gate or {}
    status, reason = gate.get("status", "?"), gate.get("reason", "")
    client = MlflowClient()
    mlflow.set_tag("model_version", f"{model_name}/{version}")
    if identical:
        mlflow.set_tag(registry.NOTE_TAG, f"{reason}.")
    else:
        text = version_description(report, run_name, identity, status, reason)
        client.update_model_version(model_name, version, description=text)
        note = f"v{version} -> {status}: {reason}\n\nTest: {metrics_line(report.model)}"
        mlflow.set_tag(registry.NOTE_TAG, note)
    history = registry.promotion_history(model_name)
    table = registry.history_markdown(history)
    mlflow.log_dict(history, "promotion/promotion_history.json")
    mlflow.log_text(
        f"# Promotion history of {model_name}\n\nNewest first; the champion is the version "
        f"`churn score` uses.\n\n{table}\n",
        "promotion/promotion_history.md",
    )
    client.update_registered_model(model_name, model_description(model_name, history))


def model_description(model_name: str, history: list[dict]) -> str:
    """The registered model's description: what it is, the champion, the latest decisions."""
    from models import registry

    champion = registry.champion_version(model_name)
    head = (
        f"Churn model, registered by `churn train`; `churn score` uses the version with the "
        f"`champion` alias (now {'v' + champion if champion else 'none'}). Each version's "
        "description has its test metrics and the gate's decision.\n\n"
        "Promotion history, newest first (each training run logs all the decisions kept, "
        f"the last {registry.HISTORY_KEEP}, as promotion/promotion_history.md):\n\n"
    )
    for rows in (HISTORY_ROWS, 8, 4, 1):
        text = head + registry.history_markdown(history, rows)
        if len(text) <= DESCRIPTION_LIMIT:
            return text
    return text[:DESCRIPTION_LIMIT]
