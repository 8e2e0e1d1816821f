"""Fitting and evaluating a model, as pure steps: a split and the training settings in, a
calibrated bundle and its evaluation out. Tuning calls the same training function as the fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import Config, Training
from features.errors import ConfigError, DataContractError
from features.matrix import matrix_hash
from features.snapshots import value_horizon_days
from models.bundle import ModelBundle
from models.calibration import fit_calibrator
from models.evaluation import (
    baseline_columns,
    baseline_probability,
    classification_metrics,
    fit_baseline,
    leakage_flags,
)
from models.profit import profit_evaluation
from models.reference import build_reference, reference_rows
from models.spec import FeatureSpec, feature_names
from models.split import MatrixSplit
from models.tiers import check_value_source, customer_value
from models.training import train_booster, train_folds
from models.tuning import TuningResult, make_folds, tune
from models.value import evaluate_value, fit_value_model

log = logging.getLogger(__name__)

ECE_BINS = "10 equal-frequency bins"


@dataclass(frozen=True)
class FittedModel:
    bundle: ModelBundle
    tuning: TuningResult
    best_iteration: int


@dataclass(frozen=True)
class Provenance:
    """What a model is built from, stored in its feature spec for scoring to compare."""

    config: str = ""  # fingerprint of the whole config
    features: str = ""  # fingerprint of the sections that decide the features
    code_version: str = ""
    # Hashes of the feature code (features.code_fingerprint): per builder, and shared modules.
    feature_code: dict = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: Config, code_version: str) -> Provenance:
        """The provenance of a model trained now with `cfg` on this code."""
        from features.code_fingerprint import feature_code

        return cls(
            cfg.fingerprint(),
            cfg.features_fingerprint(),
            code_version,
            feature_code(cfg.features.builders),
        )


@dataclass
class EvaluationReport:
    """The out-of-time evaluation of a model, and what the training job adds to it."""

    split: dict
    model: dict[str, float]
    model_uncalibrated: dict[str, float]
    calibrator: str
    leakage_flags: list[dict]
    decisions: dict | None = None  # models.profit (None in reports written before it)
    # models.value: the value model and trailing revenue against actual next-period revenue.
    value: dict | None = None
    baseline: dict | None = None
    warning: str | None = None  # the split was not by time
    ece_bins: str = ECE_BINS
    # Set by the training job:
    gate: dict | None = None
    model_version: str | None = None
    data: dict | None = None
    elapsed_seconds: float | None = None
    extra: dict = field(default_factory=dict)

    ORDER = (
        "split", "ece_bins", "model", "decisions", "value", "model_uncalibrated", "calibrator",
        "baseline", "leakage_flags", "warning", "gate", "model_version", "data",
        "elapsed_seconds",
    )  # fmt: skip

    def warn_if_few_churners(self, minimum: int) -> None:
        """Say so (log and report) when the test has too few churners to judge a model by."""
        churners = int(self.model.get("churners", 0))
        if churners < minimum:
            self.warning = (
                f"the test has {churners} churners (< training.min_test_churners {minimum}): "
                "its metrics, and the gate's decision on them, are noise"
            )
            log.warning("%s", self.warning)

    def to_dict(self) -> dict:
        """The evaluation.json record (absent parts are left out, as they always were)."""
        entries = {key: getattr(self, key) for key in self.ORDER}
        return {key: value for key, value in entries.items() if value is not None}

    def metrics(self) -> dict[str, float]:
        """The test numbers for mlflow: the model's (test_*), the baseline's (baseline_*) and
        the value model's against actual next-period revenue (test_value_*)."""
        numbers = {f"test_{k}": v for k, v in self.model.items()}
        baseline = self.baseline or {}
        numbers |= {f"baseline_{k}": v for k, v in baseline.items() if isinstance(v, int | float)}
        expected = (self.value or {}).get("sources", {}).get("expected", {})
        numbers |= {f"test_value_{k}": v for k, v in expected.items() if v is not None}
        return numbers

    @classmethod
    def from_dict(cls, entry: dict) -> EvaluationReport:
        known = {key: entry[key] for key in cls.ORDER if key in entry}
        return cls(**known, extra={k: v for k, v in entry.items() if k not in cls.ORDER})


def data_fingerprint(matrix: pd.DataFrame) -> dict:
    """Hash, row counts, customers and cutoffs of the matrix; never a customer id."""
    cutoffs = sorted(matrix["cutoff"].unique())
    return {
        "hash": matrix_hash(matrix),
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


def study_key(model_name: str, data_hash: str, config_fingerprint: str) -> str:
    """Data + config hash: the same inputs resume the same optuna study."""
    return f"{model_name}-{data_hash}-{config_fingerprint}"


def fit_model(
    split: MatrixSplit,
    training: Training,
    study_dir: Path,
    key: str,
    provenance: Provenance = Provenance(),
    on_trial=None,
    value_model: bool = False,
) -> FittedModel:
    """Tune, refit with the same training function, calibrate on held-out scores.

    Time split: tune, stop early and calibrate on the validation cutoff. Single snapshot: tune
    by k-fold cross-validation over every non-test row, fit the final booster on all of them
    with the cross-validated round count, and calibrate on the out-of-fold scores. With
    `value_model`, the bundle also carries the value model (models.value), fitted on the same
    split's training and validation rows.
    """
    rows = split.fit_rows
    spec = FeatureSpec.from_frame(
        rows, config_fingerprint=provenance.config, code_version=provenance.code_version
    )
    # Scoring compares these to refuse a model built on other features or other feature code.
    extra = {"features_fingerprint": provenance.features}
    if provenance.feature_code:
        extra["feature_code"] = provenance.feature_code
    spec = replace(spec, extra={**spec.extra, **extra})
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
    # The drift reference: the latest training cutoff, its scores and exact contributions.
    latest = reference_rows(rows)
    matrix = spec.to_matrix(latest)
    reference = build_reference(
        latest,
        spec,
        calibrator.apply(final.predict(matrix, raw_score=True)),
        final.predict(matrix, pred_contrib=True)[:, :-1],
    )
    value = fit_value_model(split, spec, training) if value_model else None
    bundle = ModelBundle(final, calibrator, spec, reference, value)
    return FittedModel(bundle, tuning, held_out.best_iteration)


def evaluate_bundle(bundle: ModelBundle, split: MatrixSplit, cfg: Config) -> EvaluationReport:
    """Model vs baseline on the test rows, calibration before/after, leakage flags."""
    test, training = split.test, cfg.training
    label = test["churned"].to_numpy()
    raw = bundle.raw_score(test)
    probability = bundle.predict_proba(test)
    decisions = profit_evaluation(label, probability, test_value(test, cfg, bundle), cfg.decisions)
    report = EvaluationReport(
        split=split.summary(),
        model={
            **classification_metrics(label, probability),
            "empc": decisions["empc_per_customer"],
        },
        decisions=decisions,
        model_uncalibrated=classification_metrics(label, 1.0 / (1.0 + np.exp(-raw))),
        calibrator=bundle.calibrator.method,
        leakage_flags=leakage_flags(test, bundle.spec.names, training.leakage_auc),
        value=value_evaluation(bundle, test, cfg),
    )
    # The baseline learns from the same rows as the model.
    columns = baseline_columns(split.fit_rows, training.baseline_features)
    baseline = fit_baseline(split.fit_rows, columns, training.seed)
    if baseline is not None:
        report.baseline = {
            "kind": "logistic regression",
            "features": columns,
            **classification_metrics(label, baseline_probability(baseline, test, columns)),
        }
    if split.method != "time":
        report.warning = split.description
    return report


def test_value(rows: pd.DataFrame, cfg: Config, bundle: ModelBundle) -> np.ndarray:
    """Each labelled row's value, as the scoring job computes it with this bundle."""
    source = check_value_source(list(rows.columns), cfg, bundle)
    return customer_value(rows, source, bundle.predict_proba(rows))


def value_evaluation(bundle: ModelBundle, rows: pd.DataFrame, cfg: Config) -> dict | None:
    """The bundle's value model (if any) and trailing revenue (`scoring.value.revenue_days`)
    against the rows' actual revenue in the value horizon (None without that label)."""
    predicted = bundle.expected_value(rows) if bundle.value_model is not None else None
    trailing = f"revenue_{cfg.scoring.value.revenue_days}d"
    return evaluate_value(predicted, rows, value_horizon_days(cfg), trailing)


def champion_metrics(champion: ModelBundle, split: MatrixSplit, cfg: Config) -> dict:
    """A registered model's metrics on the new test rows (the promotion gate's comparison); its
    EMPC only where it can price them: a champion without the value model this config asks for
    is still compared on everything else."""
    label, probability = split.test["churned"].to_numpy(), champion.predict_proba(split.test)
    metrics = classification_metrics(label, probability)
    try:
        value = test_value(split.test, cfg, champion)
    except ConfigError as exc:
        log.warning("champion cannot price the test rows (%s): its EMPC is not compared", exc)
        return metrics
    profit = profit_evaluation(label, probability, value, cfg.decisions)
    return {**metrics, "empc": profit["empc_per_customer"]}


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
