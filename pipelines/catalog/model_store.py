"""The model store: mlflow tracking and registry, resolved models, evaluation records, runs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from features.errors import ChurnError
from models.bundle import ModelBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    uri: str
    version: str  # what every score row records, e.g. "churn-synthetic/3"
    bundle: ModelBundle


def use_model_store(var_dir: Path, create: bool = True) -> str:
    """Point mlflow at the store under `var_dir` (or MLFLOW_TRACKING_URI); no progress bars.

    Read-only jobs pass `create=False`: nothing is contacted or created until a registered
    model is needed, and then a missing store or a silent server fails in one line. A model
    folder (`--model DIR`) never needs the store at all."""
    from models.registry import use_store

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return use_store(var_dir, create)


def resolve_model(model: str | None, model_name: str) -> ResolvedModel:
    """Turn `--model` (or the champion alias) into one fixed version and load it once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import check_store, load_bundle, resolve_model_uri

    uri = resolve_model_uri(model, model_name)
    if Path(uri).is_dir():
        return ResolvedModel(uri, f"file:{Path(uri).resolve().name}", load_bundle(uri))
    check_store()
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

    from models.registry import check_store

    if not uri.startswith("models:/"):
        return None
    check_store()
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


def log_report(
    uri: str, html: str, name: str, dataset: str, as_of: str, model_version: str
) -> str | None:
    """Log a report's HTML as `report/<name>` to a reporting run of its own, "report <dataset>
    <as_of>", in the experiment of the model's training run (tagged with the model version, the
    day and that run); the training run's artifacts stay as training left them. None for a
    model folder."""
    run_id = model_run_id(uri)
    if run_id is None:
        return None
    from mlflow import MlflowClient

    client = MlflowClient()
    training = client.get_run(run_id)
    tags = {
        "churn.job": "report",
        "as_of": as_of,
        "model_version": model_version,
        "training_run_id": run_id,
    }
    run = client.create_run(
        training.info.experiment_id, run_name=f"report {dataset} {as_of}", tags=tags
    )
    try:
        client.log_text(run.info.run_id, html, f"report/{name}")
    except Exception:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id)
    log.info("report logged to mlflow run %s", run.info.run_id)
    return run.info.run_id


def run_folder(var_dir: Path, run_id: str) -> Path:
    folder = Path(var_dir) / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def study_folder(var_dir: Path) -> Path:
    return Path(var_dir) / "optuna"
