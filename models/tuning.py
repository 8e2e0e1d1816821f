"""Hyperparameter search with optuna on the validation cutoff, or by k-fold cross-validation.

With a validation cutoff (time split) each trial stops early and is scored on it. Without one
(a single snapshot) each trial is scored by the mean held-out metric of stratified k-fold
cross-validation, and early stopping picks one round count for all folds.

The study lives in a journal file keyed by data and config, so an interrupted run resumes
where it stopped (one writer; optuna advises against SQLite for parallel writers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from features.config import Training
from features.errors import ConfigError
from models.spec import FeatureSpec
from models.split import customer_folds
from models.training import METRICS, Fold, base_params, train_folds

log = logging.getLogger(__name__)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class TuningResult:
    params: dict
    best_iteration: int
    best_value: float
    trials_run: int
    trials_total: int
    study_name: str
    storage_path: str


class PruningReporter:
    """Reports the (mean) held-out metric to optuna each round and prunes poor trials.

    optuna 5 moved `LightGBMPruningCallback` to the separate optuna-integration package; these
    few lines avoid that dependency.
    """

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def __call__(self, iteration: int, score: float) -> None:
        self.trial.report(score, step=iteration)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at round {iteration}")


def make_folds(train: pd.DataFrame, valid: pd.DataFrame | None, training: Training) -> list[Fold]:
    """One fold (train, valid) with a validation cutoff; else k folds over `train` by customer."""
    if valid is not None:
        return [Fold(train, valid)]
    return [
        Fold(train.iloc[fit], train.iloc[held])
        for fit, held in customer_folds(train, training.cv_folds, training.seed)
    ]


def search_space(trial: optuna.Trial, training: Training) -> dict:
    """Bounded trees and rounds keep scoring and exact TreeSHAP fast at 1M customers."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, training.max_leaves, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "bagging_freq": 1,
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def open_study(storage_dir: Path, key: str, training: Training) -> tuple[optuna.Study, Path]:
    """Create or resume the study stored at `storage_dir/<key>.journal`."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    path = storage_dir / f"{key}.journal"
    storage = JournalStorage(JournalFileBackend(str(path)))
    direction = "maximize" if METRICS[training.objective][1] else "minimize"
    study = optuna.create_study(
        study_name=key,
        storage=storage,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=training.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
        load_if_exists=True,
    )
    return study, path


def tune(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    spec: FeatureSpec,
    training: Training,
    storage_dir: Path,
    key: str,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> TuningResult:
    """Run (or resume) the search until `training.trials` trials have finished.

    `valid=None` scores each trial by k-fold cross-validation over `train` (`training.cv_folds`).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, path = open_study(storage_dir, key, training)
    done = sum(1 for trial in study.trials if trial.state in FINISHED)
    remaining = max(training.trials - done, 0)
    if done:
        log.info("resuming study %s: %d trial(s) already finished", key, done)
    fixed = base_params(training.seed, training.num_threads, training.objective)
    folds = make_folds(train, valid, training)

    def objective(trial: optuna.Trial) -> float:
        result = train_folds(
            folds,
            spec,
            {**fixed, **search_space(trial, training)},
            num_boost_round=training.max_boost_rounds,
            early_stopping_rounds=training.early_stopping_rounds,
            on_round=PruningReporter(trial),
        )
        trial.set_user_attr("best_iteration", result.best_iteration)
        return result.valid_score

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        log.info("trial %d %s value=%s", trial.number, trial.state.name, trial.value)
        if on_trial is not None:
            on_trial(trial)

    if remaining:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=training.timeout_seconds,
            callbacks=[report],
            gc_after_trial=False,
        )
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise ConfigError(
            f"optuna study {key}: no trial completed; raise training.trials or timeout_seconds"
        )
    best = study.best_trial
    return TuningResult(
        params={**fixed, **best.params, "bagging_freq": 1},
        best_iteration=int(best.user_attrs["best_iteration"]),
        best_value=float(best.value),
        trials_run=remaining,
        trials_total=len(study.trials),
        study_name=key,
        storage_path=str(path),
    )
