"""The training job, as wiring: matrix -> split -> fit (models.fitting) -> evaluate -> mlflow
-> register -> promotion gate.

Every step is a pure function of frames and a config part; this module only reads the dataset
through the catalog, logs to mlflow and writes the run folder.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from features.config import Config
from features.errors import DataContractError
from models.fitting import (
    EvaluationReport,
    FittedModel,
    Provenance,
    champion_metrics,
    data_fingerprint,
    evaluate_bundle,
    fit_model,
    study_key,
)
from models.split import MatrixSplit, split_for_training
from pipelines import catalog
from reporting.evaluation_card import feature_importance, report_markdown
from reporting.figures import shap_summary_plot
from reporting.words import feature_labels

log = logging.getLogger(__name__)


@dataclass
class TrainOutputs:
    """Where everything went, for the CLI to print."""

    tracking_uri: str
    experiment: str
    run_id: str
    model_name: str
    model_version: str
    status: str
    reason: str
    output_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def run_train(
    data: Path,
    cfg: Config,
    var_dir: Path,
    trials: int | None = None,
    config_path: Path | None = None,
) -> TrainOutputs:
    """`churn train`: build the training matrix from the dataset and train on it."""
    from features.matrix import build_training_matrix

    # Bad input stops the job before anything is tuned, logged or registered.
    with catalog.dataset(data, cfg) as dataset:
        matrix = build_training_matrix(dataset, cfg)
    return train_on_matrix(matrix, cfg, var_dir, trials, config_path, source=data)


def train_on_matrix(
    matrix: pd.DataFrame,
    cfg: Config,
    var_dir: Path,
    trials: int | None = None,
    config_path: Path | None = None,
    source: Path | None = None,
) -> TrainOutputs:
    """Tune, fit, evaluate, log to mlflow, register (unless a version from the same data,
    config and code exists) and run the promotion gate."""
    import mlflow

    from models import registry
    from pipelines import tracking

    started = time.perf_counter()
    if trials is not None:
        cfg = cfg.model_copy(
            update={"training": cfg.training.model_copy(update={"trials": trials})}
        )
    training = cfg.training
    fingerprint = data_fingerprint(matrix)
    split = split_for_training(matrix, training, cfg.snapshots.horizon_days)
    code_version = registry.git_commit()
    identity = tracking.identity(cfg, fingerprint, code_version)
    catalog.use_model_store(var_dir)
    description = tracking.experiment_description(cfg)
    uri = registry.use_experiment(var_dir, training.model_name, description)

    run_name = tracking.train_run_name(cfg, fingerprint)
    with mlflow.start_run(run_name=run_name) as run:
        run_id = run.info.run_id
        out = catalog.run_folder(var_dir, run_id)
        tracking.log_inputs(cfg, fingerprint, split, identity, config_path)
        tracking.log_training_data(matrix, cfg, fingerprint, source)
        fitted = fit_model(
            split,
            training,
            catalog.study_folder(var_dir),
            study_key(training.model_name, fingerprint["hash"], cfg.fingerprint()),
            Provenance.of(cfg, code_version),
            on_trial=lambda trial: registry.log_trial_run(trial, training.objective),
            value_model=cfg.scoring.value.source == "expected",
        )
        log_fit(fitted, cfg)
        report = evaluate_bundle(fitted.bundle, split, cfg)
        mlflow.log_metrics(report.metrics())
        files = write_run_files(out, fitted, split, cfg)
        version, identical = tracking.register(
            files["model"], fitted.bundle, split, training.model_name, identity
        )
        if identical:
            status, reason = tracking.keep_identical(report, training.model_name, version)
        else:
            status, reason = run_gate(report, split, cfg, version, run_id)
        report.model_version = version
        report.data = fingerprint
        report.elapsed_seconds = round(time.perf_counter() - started, 1)
        files.update(write_evaluation(out, report, fitted))
        for name in ("report_json", "report", "importance", "shap_summary", "config"):
            mlflow.log_artifact(str(files[name]), "report")
        mlflow.set_tag("gate.status", status)
        tracking.describe_training(
            training.model_name, version, report, identical, run_name, identity
        )

    return TrainOutputs(
        tracking_uri=uri,
        experiment=training.model_name,
        run_id=run_id,
        model_name=training.model_name,
        model_version=version,
        status=status,
        reason=reason,
        output_dir=out,
        files={
            "model": files["model"],
            "report": files["report"],
            "report_json": files["report_json"],
            "shap_summary": files["shap_summary"],
            "optuna_study": Path(fitted.tuning.storage_path),
        },
        metrics=report.model,
    )


def log_fit(fitted: FittedModel, cfg: Config) -> None:
    """The tuned parameters and the validation score of the best trial."""
    import mlflow

    mlflow.log_params(
        {f"best.{k}": v for k, v in fitted.tuning.params.items() if k not in cfg.model_dump()}
    )
    mlflow.log_metrics(
        {
            "best_iteration": fitted.best_iteration,
            f"valid_{cfg.training.objective}": fitted.tuning.best_value,
        }
    )


def write_run_files(out: Path, fitted: FittedModel, split: MatrixSplit, cfg: Config) -> dict:
    """The model bundle, feature importance, SHAP summary and config in the run folder."""
    bundle = fitted.bundle
    files = {"model": bundle.save(out / "model")}
    files["importance"] = out / "feature_importance.csv"
    feature_importance(bundle).to_csv(files["importance"], index=False)
    files["shap_summary"] = out / "shap_summary.png"
    files["shap_summary"].write_bytes(
        shap_summary_plot(
            bundle,
            split.test,
            cfg.report.shap_sample_rows,
            cfg.training.seed,
            feature_labels(bundle.spec.names, cfg),
        )
    )
    files["config"] = out / "config.yaml"
    files["config"].write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return files


def write_evaluation(out: Path, report: EvaluationReport, fitted: FittedModel) -> dict:
    """evaluation.json and the markdown card beside it."""
    files = {"report_json": out / "evaluation.json", "report": out / "evaluation.md"}
    files["report_json"].write_text(json.dumps(report.to_dict(), indent=1, default=str))
    bundle = fitted.bundle
    card = report_markdown(report, feature_importance(bundle), bundle.reference.get("reason_floor"))
    files["report"].write_text(card)
    return files


def run_gate(
    report: EvaluationReport, split: MatrixSplit, cfg: Config, version: str, run_id: str
) -> tuple[str, str]:
    """Compare with the current champion on the very same test rows; move the alias or not."""
    from models import registry

    name = cfg.training.model_name
    champion = registry.champion_version(name)
    compared = None
    if champion is not None and champion != version:
        try:
            champion_bundle = registry.load_bundle(f"models:/{name}/{champion}")
            compared = champion_metrics(champion_bundle, split, cfg)
        except DataContractError as exc:
            log.warning(
                "champion v%s cannot score the new test set (%s): gate compares nothing",
                champion,
                exc,
            )
    margin, on_profit = cfg.training.promotion_margin, cfg.decisions.gate_on_profit
    baseline = report.baseline if cfg.training.require_beating_baseline else None
    decision = registry.promotion_decision(
        report.model, compared, margin, champion, on_profit, baseline
    )
    report.warn_if_few_churners(cfg.training.min_test_churners)
    status, decision = registry.apply_decision(name, version, decision, run_id)
    report.gate = {
        "status": status,
        "reason": decision.reason,
        "champion_version": champion,
        "champion_metrics": compared,
    }
    return status, decision.reason
