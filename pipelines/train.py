"""The training job: matrix -> split -> tune -> fit -> calibrate -> evaluate -> register -> gate.

Steps are pure functions of frames and config; the mlflow store, the optuna journal and the
report files are touched only in `train_on_matrix` and `run_train`, the job's edges.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features.config import Config
from features.errors import ChurnError, DataContractError
from models.bundle import ModelBundle
from models.calibration import fit_calibrator
from models.evaluation import (
    baseline_columns,
    baseline_probability,
    classification_metrics,
    fit_baseline,
    leakage_flags,
    precision_by_tier,
)
from models.reference import build_reference
from models.spec import FeatureSpec, feature_names
from models.split import MatrixSplit, split_matrix
from models.training import train_booster, train_folds
from models.tuning import TuningResult, make_folds, tune
from reporting.evaluation_card import feature_importance, report_markdown
from reporting.figures import shap_summary_plot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedModel:
    bundle: ModelBundle
    tuning: TuningResult
    best_iteration: int


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


# ---------- pure steps ----------


def data_fingerprint(matrix: pd.DataFrame) -> dict:
    """Hash, row counts, customers and cutoffs of the matrix; never a customer id."""
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(matrix, index=False).to_numpy().tobytes()
    ).hexdigest()
    cutoffs = sorted(matrix["cutoff"].unique())
    return {
        "hash": digest[:16],
        "rows": len(matrix),
        "labelled_rows": int(matrix["churned"].notna().sum()),
        "customers": int(matrix["customer_id"].nunique()),
        "features": len(feature_names(matrix)),
        "cutoffs": [f"{pd.Timestamp(c):%Y-%m-%d}" for c in cutoffs],
        "date_range": [
            f"{pd.Timestamp(cutoffs[0]):%Y-%m-%d}",
            f"{pd.Timestamp(cutoffs[-1]):%Y-%m-%d}",
        ],
        "churn_rate": round(float(matrix["churned"].mean()), 6),
    }


def study_key(fingerprint: dict, cfg: Config) -> str:
    """Data + config hash: the same inputs resume the same optuna study."""
    return f"{cfg.training.model_name}-{fingerprint['hash']}-{cfg.fingerprint()}"


def fit_model(
    split: MatrixSplit,
    cfg: Config,
    study_dir: Path,
    key: str,
    code_version: str = "",
    on_trial=None,
) -> FittedModel:
    """Tune, refit with the same training function, calibrate on held-out scores.

    Time split: tune, stop early and calibrate on the validation cutoff. Single snapshot: tune
    by k-fold cross-validation over every non-test row, fit the final booster on all of them
    with the cross-validated round count, and calibrate on the out-of-fold scores.
    """
    training = cfg.training
    rows = split.fit_rows
    spec = FeatureSpec.from_frame(
        rows,
        config_fingerprint=cfg.fingerprint(),
        code_version=code_version,
    )
    # Scoring compares this to refuse a model built on other features.
    spec = replace(spec, extra={**spec.extra, "features_fingerprint": cfg.features_fingerprint()})
    valid = None if split.cross_validated else split.valid
    tuning = tune(rows, valid, spec, training, study_dir, key, on_trial=on_trial)
    # Same function, same folds, same seed as the best trial: the same trees and round count.
    folds = make_folds(rows, valid, training)
    held_out = train_folds(
        folds,
        spec,
        tuning.params,
        num_boost_round=training.max_boost_rounds,
        early_stopping_rounds=training.early_stopping_rounds,
    )
    if split.cross_validated:
        # No slice is set aside: the model learns from every row, for the CV round count.
        final = train_booster(
            rows,
            None,
            spec,
            tuning.params,
            num_boost_round=held_out.best_iteration,
            early_stopping_rounds=training.early_stopping_rounds,
        ).booster
    else:
        final = held_out.booster
    # Out-of-fold scores (cross-fitted) or the validation cutoff's scores: never fitted rows.
    calibrator = fit_calibrator(
        np.concatenate(held_out.valid_raw),
        np.concatenate([fold.valid["churned"].to_numpy() for fold in folds]),
        training.calibration,
        training.seed,
    )
    train_scores = calibrator.apply(final.predict(spec.to_matrix(rows), raw_score=True))
    reference = build_reference(rows, spec, train_scores)
    bundle = ModelBundle(final, calibrator, spec, reference)
    return FittedModel(bundle, tuning, held_out.best_iteration)


def evaluate_bundle(bundle: ModelBundle, split: MatrixSplit, cfg: Config) -> dict:
    """Model vs baseline on the test rows, calibration before/after, leakage flags."""
    test = split.test
    label = test["churned"].to_numpy()
    raw = bundle.raw_score(test)
    probability = bundle.predict_proba(test)
    report: dict = {
        "split": split.summary(),
        "ece_bins": "10 equal-frequency bins",
        "model": classification_metrics(label, probability),
        "risk_tiers": precision_by_tier(label, probability, cfg.scoring.tiers),
        "model_uncalibrated": classification_metrics(label, 1.0 / (1.0 + np.exp(-raw))),
        "calibrator": bundle.calibrator.method,
    }
    # The baseline learns from the same rows as the model.
    columns = baseline_columns(split.fit_rows, cfg.training.baseline_features)
    baseline = fit_baseline(split.fit_rows, columns, cfg.training.seed)
    if baseline is not None:
        report["baseline"] = {
            "kind": "logistic regression",
            "features": columns,
            **classification_metrics(label, baseline_probability(baseline, test, columns)),
        }
    report["leakage_flags"] = leakage_flags(test, bundle.spec.names, cfg.training.leakage_auc)
    if split.method != "time":
        report["warning"] = split.description
    return report


# ---------- the job, I/O at the edges ----------


def train_on_matrix(
    matrix: pd.DataFrame,
    cfg: Config,
    var_dir: Path,
    trials: int | None = None,
    config_path: Path | None = None,
) -> TrainOutputs:
    """Tune, fit, evaluate, log to mlflow, register and run the promotion gate."""
    import mlflow

    from models import registry

    started = time.perf_counter()
    if trials is not None:
        cfg = cfg.model_copy(
            update={"training": cfg.training.model_copy(update={"trials": trials})}
        )
    training = cfg.training
    fingerprint = data_fingerprint(matrix)
    split = split_matrix(matrix, training.seed, training.valid_share, training.test_share)
    code_version = registry.git_commit()
    uri = registry.use_experiment(var_dir, training.model_name)
    key = study_key(fingerprint, cfg)

    with mlflow.start_run(run_name=f"train-{fingerprint['hash']}") as run:
        run_id = run.info.run_id
        out = var_dir / "runs" / run_id
        out.mkdir(parents=True, exist_ok=True)
        mlflow.set_tags(
            {
                "git_commit": code_version,
                "config_fingerprint": cfg.fingerprint(),
                "data_hash": fingerprint["hash"],
                "split_method": split.method,
                "validation": (
                    f"stratified {training.cv_folds}-fold cross-validation"
                    if split.cross_validated
                    else "validation cutoff"
                ),
            }
        )
        mlflow.log_params(registry.flatten(cfg.model_dump(mode="json")))
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/config.yaml")
        mlflow.log_dict({"data": fingerprint, "split": split.summary()}, "data/fingerprint.json")
        if config_path is not None:
            mlflow.set_tag("config_path", str(config_path))

        fitted = fit_model(
            split,
            cfg,
            var_dir / "optuna",
            key,
            code_version,
            on_trial=lambda trial: registry.log_trial_run(trial, training.objective),
        )
        bundle = fitted.bundle
        mlflow.log_params(
            {f"best.{k}": v for k, v in fitted.tuning.params.items() if k not in cfg.model_dump()}
        )
        mlflow.log_metrics(
            {
                "best_iteration": fitted.best_iteration,
                f"valid_{training.objective}": fitted.tuning.best_value,
            }
        )

        report = evaluate_bundle(bundle, split, cfg)
        mlflow.log_metrics({f"test_{k}": v for k, v in report["model"].items()})
        if "baseline" in report:
            mlflow.log_metrics(
                {
                    f"baseline_{k}": v
                    for k, v in report["baseline"].items()
                    if isinstance(v, int | float)
                }
            )

        bundle_dir = bundle.save(out / "model")
        importance = feature_importance(bundle)
        importance_path = out / "feature_importance.csv"
        importance.to_csv(importance_path, index=False)
        shap_path = out / "shap_summary.png"
        shap_path.write_bytes(
            shap_summary_plot(bundle, split.test, training.shap_sample_rows, training.seed)
        )
        (out / "config.yaml").write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        )

        example = registry.signature_example(bundle, split.test)
        signature = registry.model_signature(bundle, example)
        version = registry.log_and_register(bundle_dir, training.model_name, example, signature)

        # Gate: the current champion scored on the very same test rows.
        champion = registry.champion_version(training.model_name)
        champion_metrics = None
        if champion is not None and champion != version:
            champion_metrics = _champion_metrics(registry, training.model_name, champion, split)
        decision = registry.promotion_decision(
            report["model"], champion_metrics, training.promotion_margin, champion
        )
        status = registry.apply_decision(training.model_name, version, decision, run_id)
        report["gate"] = {
            "status": status,
            "reason": decision.reason,
            "champion_version": champion,
            "champion_metrics": champion_metrics,
        }
        report["model_version"] = version
        report["data"] = fingerprint
        report["elapsed_seconds"] = round(time.perf_counter() - started, 1)

        report_json = out / "evaluation.json"
        report_json.write_text(json.dumps(report, indent=1, default=str))
        report_md = out / "evaluation.md"
        report_md.write_text(report_markdown(report, importance))
        for path in (report_json, report_md, importance_path, shap_path, out / "config.yaml"):
            mlflow.log_artifact(str(path), "report")
        mlflow.set_tag("gate.status", status)

    return TrainOutputs(
        tracking_uri=uri,
        experiment=training.model_name,
        run_id=run_id,
        model_name=training.model_name,
        model_version=version,
        status=status,
        reason=decision.reason,
        output_dir=out,
        files={
            "model": bundle_dir,
            "report": report_md,
            "report_json": report_json,
            "shap_summary": shap_path,
            "optuna_study": Path(fitted.tuning.storage_path),
        },
        metrics=report["model"],
    )


def _champion_metrics(registry, model_name: str, version: str, split: MatrixSplit) -> dict | None:
    """The current champion's metrics on the new test rows, or None if it cannot score them."""
    try:
        champion = registry.load_bundle(f"models:/{model_name}/{version}")
        probability = champion.predict_proba(split.test)
    except DataContractError as exc:
        log.warning(
            "champion v%s cannot score the new test set (%s): gate compares nothing", version, exc
        )
        return None
    return classification_metrics(split.test["churned"].to_numpy(), probability)


def run_train(
    data: Path,
    cfg: Config,
    var_dir: Path,
    trials: int | None = None,
    config_path: Path | None = None,
) -> TrainOutputs:
    """`churn train`: build the training matrix from the dataset and train on it."""
    from features.dataset import open_dataset
    from features.matrix import build_training_matrix
    from features.validation import validate_dataset

    # Bad input stops the job before anything is tuned, logged or registered.
    dataset = validate_dataset(open_dataset(data), cfg).dataset
    matrix = build_training_matrix(dataset, cfg)
    return train_on_matrix(matrix, cfg, var_dir, trials, config_path)


def evaluation_rows(matrix: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows to evaluate on; a given single-snapshot split keeps only its test rows."""
    labelled = matrix[matrix["churned"].notna()]
    if "split" in labelled and (labelled["split"] == "test").any():
        labelled = labelled[labelled["split"] == "test"]
    if labelled.empty or labelled["churned"].nunique() < 2:
        raise DataContractError(
            [
                f"evaluation: {len(labelled)} labelled rows with both outcomes are needed; "
                "pick an --as-of whose label horizon has passed"
            ]
        )
    return labelled


def ground_truth_metrics(data: Path, rows: pd.DataFrame, cfg: Config) -> dict:
    """Metrics of the synthetic world's true churn probabilities on the same rows: the ceiling
    a model can approach (the generator saves them in `truth/`)."""
    from features.synth import true_churn_probability

    truth = true_churn_probability(
        data, sorted(rows["cutoff"].unique()), cfg.snapshots.horizon_days
    )
    joined = rows[["customer_id", "cutoff", "churned"]].merge(
        truth, on=["customer_id", "cutoff"], how="left", validate="one_to_one"
    )
    if joined["true_probability"].isna().any():
        raise ChurnError("truth/ does not cover every evaluated customer; regenerate the world")
    return classification_metrics(
        joined["churned"].to_numpy(), joined["true_probability"].to_numpy()
    )


def run_evaluate(
    data: Path,
    cfg: Config,
    var_dir: Path,
    model: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict:
    """`churn evaluate`: metrics of a model on one labelled cutoff (default: the latest)."""
    import mlflow

    from features.dataset import open_dataset
    from features.matrix import build_matrix
    from features.snapshots import training_cutoffs
    from features.validation import validate_dataset
    from models import registry

    mlflow.set_tracking_uri(registry.tracking_uri(var_dir))
    mlflow.set_registry_uri(registry.tracking_uri(var_dir))
    uri = registry.resolve_model_uri(model, cfg.training.model_name)
    bundle = registry.load_bundle(uri)
    dataset = validate_dataset(open_dataset(data), cfg).dataset
    cutoff = as_of if as_of is not None else training_cutoffs(dataset, cfg)[-1]
    rows = evaluation_rows(build_matrix(dataset, cfg, [cutoff]))
    label = rows["churned"].to_numpy()
    probability = bundle.predict_proba(rows)
    result = {
        "model": uri,
        "cutoff": f"{pd.Timestamp(cutoff):%Y-%m-%d}",
        "ece_bins": "10 equal-frequency bins",
        "metrics": classification_metrics(label, probability),
        "risk_tiers": precision_by_tier(label, probability, cfg.scoring.tiers),
        "leakage_flags": leakage_flags(rows, bundle.spec.names, cfg.training.leakage_auc),
    }
    if (Path(data) / "truth").is_dir():
        result["ground_truth"] = ground_truth_metrics(Path(data), rows, cfg)
    if bundle.spec.config_fingerprint and bundle.spec.config_fingerprint != cfg.fingerprint():
        log.warning(
            "the model was trained with a different config (fingerprint %s, now %s)",
            bundle.spec.config_fingerprint,
            cfg.fingerprint(),
        )
    return result
