"""The nightly scoring run in mlflow: one run per scored night, named "score <dataset> <as_of>",
in the model's experiment, with what the day's manifest says (rows, tiers, drift, timings) and
tagged with the model version.

It is written after the day is published: a store that is missing (scoring never creates one)
or a server that does not answer (requests bounded as in `pipelines.cli_options`) costs one
warning line, never the night's scores. Counts and totals only, never a customer id.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from features.config import Config
from features.errors import ChurnError
from pipelines.manifest import ScoreManifest

log = logging.getLogger(__name__)


def score_run_name(cfg: Config, as_of: str) -> str:
    return f"score {cfg.name} {as_of}"


def track_score(manifest: ScoreManifest, cfg: Config) -> str | None:
    """Log the published night as an mlflow run; its id, or None (one warning) on failure."""
    try:
        run_id = log_score_run(manifest, cfg)
    except Exception as exc:  # the scores are out: their record is not worth a failed night
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        log.warning("scoring run not tracked in mlflow (the scores are published): %s", reason)
        return None
    log.info("scoring run %s logged to mlflow", run_id)
    return run_id


def model_name(manifest: ScoreManifest, cfg: Config) -> str:
    """The registered model that scored (its experiment holds the night), else the config's."""
    if manifest.model_uri.startswith("models:/"):
        return manifest.model_uri.removeprefix("models:/").split("@")[0].rsplit("/", 1)[0]
    return cfg.training.model_name


def log_score_run(manifest: ScoreManifest, cfg: Config) -> str:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    from models import registry
    from pipelines.tracking import experiment_description

    uri = mlflow.get_tracking_uri()
    local = registry.local_store_path(uri)
    if local is not None and not local.exists():
        raise ChurnError(f"no mlflow store at {local}; scoring never creates one, training does")
    registry.check_server(uri, fix="start it or fix MLFLOW_TRACKING_URI")
    name = model_name(manifest, cfg)
    experiment = registry.ensure_experiment(name, experiment_description(cfg))
    client = MlflowClient()
    version = registered_version(client, manifest.model_uri)
    tags = score_tags(manifest, cfg, version)
    run = client.create_run(experiment, run_name=score_run_name(cfg, manifest.as_of))
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, 0) for key, value in score_metrics(manifest).items()
        ]
        client.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        client.log_dict(run_id, manifest.to_dict(), "manifest.json")
        client.log_inputs(run_id, **score_inputs(manifest, cfg, version))
    except Exception:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id)
    return run_id


def registered_version(client, uri: str):
    """The model version behind a `models:/NAME/VERSION` URI (scoring pins aliases), or None."""
    if not uri.startswith("models:/") or "@" in uri:
        return None
    name, number = uri.removeprefix("models:/").rsplit("/", 1)
    return client.get_model_version(name, number)


def score_metrics(manifest: ScoreManifest) -> dict[str, float]:
    """Rows, customers, per-tier totals, drift, data quality counts and seconds per step."""
    metrics: dict[str, float] = {
        "rows": manifest.rows,
        "active_customers": manifest.active_customers,
        "feature_columns": manifest.data_columns,
        "customers_per_second": manifest.customers_per_second,
    }
    for tier, totals in manifest.tiers.items():
        metrics |= {f"tier_{tier}_{key}": value for key, value in totals.items()}
    drift = manifest.drift
    if drift.score is not None:
        metrics["drift_score_psi"] = drift.score
    if drift.night_score is not None:
        metrics["drift_night_score_psi"] = drift.night_score
    if drift.shifts:
        metrics["drift_max_contribution_shift"] = max(abs(v) for v in drift.shifts.values())
    metrics["drift_inputs_warned"] = len(drift.warned)
    metrics["drift_inputs_failed"] = len(drift.failed)
    metrics |= {
        f"quality_{key}": value
        for key, value in manifest.data_quality.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    metrics |= {f"seconds_{step}": value for step, value in manifest.timings_seconds.items()}
    return metrics


def score_tags(manifest: ScoreManifest, cfg: Config, version) -> dict[str, str]:
    from features.feed import has_event_feed
    from models.registry import NOTE_TAG

    drift = manifest.drift
    drift_status = drift.status + (" (scored with --allow-drift)" if drift.allowed else "")
    feed = "healthy" if has_event_feed(cfg) else "not checked (no event feed)"
    tiers = "; ".join(
        f"{tier} {totals['customers']:,} (control {totals['control']:,}, expected profit "
        f"{totals['expected_profit']:,.0f})"
        for tier, totals in manifest.tiers.items()
    )
    note = (
        f"{manifest.rows:,} customers scored as of {manifest.as_of} by {manifest.model_version}: "
        f"{tiers}. Drift {drift_status} (score PSI {drift.score} against the {drift.reference})"
        f"{'; retrain recommended' if drift.retrain_recommended else ''}. Feeds {feed}. "
        f"{manifest.timings_seconds.get('total', 0.0):.1f} s."
    )
    tags = {
        "churn.job": "score",
        "as_of": manifest.as_of,
        "model_version": manifest.model_version,
        "model_uri": manifest.model_uri,
        "drift.status": drift_status,
        "drift.retrain_recommended": str(bool(drift.retrain_recommended)).lower(),
        "feed.status": feed,
        "feature_code": str(manifest.feature_code.get("status", "unchecked")),
        "data_hash": manifest.data_hash,
        "config_fingerprint": manifest.config_fingerprint,
        "git_commit": manifest.code_version,
        NOTE_TAG: note,
    }
    if version is not None:
        tags["training_run_id"] = version.run_id or ""
    return tags


def score_inputs(manifest: ScoreManifest, cfg: Config, version) -> dict:
    """The day's feature matrix as a dataset input (digest and counts, no rows) and the
    registered model as a model input."""
    import json

    from mlflow.data.dataset_source_registry import get_dataset_source_from_json
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag, LoggedModelInput

    location = json.dumps({"uri": str(Path(manifest.data_source).resolve())})
    source = get_dataset_source_from_json(location, "local")
    dataset = MetaDataset(source, name=cfg.name, digest=manifest.data_hash)
    tags = {"mlflow.data.context": "scoring", "rows": str(manifest.data_rows)}
    entry = DatasetInput(dataset._to_mlflow_entity(), [InputTag(k, v) for k, v in tags.items()])
    if version is None:
        return {"datasets": [entry]}
    # mlflow 3 registers a logged model: its id is the version's source (models:/m-...).
    model_id = version.model_id or version.source.removeprefix("models:/")
    return {"datasets": [entry], "models": [LoggedModelInput(model_id)]}
