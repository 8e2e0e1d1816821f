"""One training function, used by every tuning trial and by the final fit.

`train_folds` fits one booster per fold in lockstep and stops early on the mean held-out metric,
so a single validation cutoff (one fold), k-fold cross-validation (k folds) and the final fit on
all rows with a fixed round count (one fold without held-out rows) share the same code path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.spec import FeatureSpec

log = logging.getLogger(__name__)

# LightGBM's name for each tuning objective and whether larger is better.
METRICS = {"log_loss": ("binary_logloss", False), "pr_auc": ("average_precision", True)}


@dataclass(frozen=True)
class Fold:
    """Rows to fit on and rows to stop early on; `valid=None` fits a fixed number of rounds."""

    train: pd.DataFrame
    valid: pd.DataFrame | None = None


@dataclass(frozen=True)
class TrainedBooster:
    # The first fold's booster: the model itself when there is one fold.
    booster: lgb.Booster
    best_iteration: int
    # Mean held-out metric over folds at `best_iteration` (NaN without held-out rows).
    valid_score: float
    boosters: tuple[lgb.Booster, ...] = ()
    # Held-out raw scores (log-odds) per fold at `best_iteration`, in each fold's row order.
    valid_raw: tuple[np.ndarray, ...] = ()


def base_params(seed: int, num_threads: int, metric: str = "log_loss") -> dict:
    """Fixed parameters: reproducible (same data + seed => same model text) and quiet."""
    return {
        "objective": "binary",
        "metric": METRICS[metric][0],
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": num_threads,
        "verbosity": -1,
        # Categories are coded by FeatureSpec; keep LightGBM's own category handling modest.
        "max_cat_to_onehot": 4,
        "min_data_per_group": 50,
        "cat_smooth": 10.0,
    }


def lgb_dataset(
    frame: pd.DataFrame, spec: FeatureSpec, reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    """A LightGBM Dataset over the spec's numeric matrix with categorical columns declared."""
    return lgb.Dataset(
        spec.to_matrix(frame),
        label=frame["churned"].to_numpy(dtype=np.float64),
        feature_name=spec.names,
        categorical_feature=spec.categorical_indices,
        reference=reference,
        free_raw_data=False,
        params={"verbosity": -1},
    )


def _start(fold: Fold, spec: FeatureSpec, params: dict, rounds: int) -> lgb.Booster:
    train_set = lgb_dataset(fold.train, spec)
    # Recorded in the model text exactly as lgb.train records it.
    booster = lgb.Booster(params={**params, "num_iterations": rounds}, train_set=train_set)
    if fold.valid is not None:
        # Validation bins come from the training rows, as lgb.train does with a reference.
        booster.add_valid(lgb_dataset(fold.valid, spec, reference=train_set), "valid")
    return booster


def _held_out_score(booster: lgb.Booster, metric: str) -> float:
    for _data, name, value, _higher in booster.eval_valid():
        if name == metric:
            return float(value)
    raise ValueError(f"metric {metric!r} not evaluated on the held-out rows")


def _trim(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    # Keep only the trees up to the best iteration so model text and scoring agree exactly.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def train_folds(
    folds: Sequence[Fold],
    spec: FeatureSpec,
    params: dict,
    *,
    num_boost_round: int,
    early_stopping_rounds: int,
    on_round: Callable[[int, float], None] | None = None,
) -> TrainedBooster:
    """Fit a booster per fold in lockstep; stop when the mean held-out metric stops improving.

    `on_round(iteration, mean_score)` runs after every round (optuna pruning raises from it).
    Folds must all have held-out rows or none; without them exactly `num_boost_round` are fit.
    """
    if not folds:
        raise ValueError("train_folds needs at least one fold")
    validated = {fold.valid is not None for fold in folds}
    if len(validated) != 1:
        raise ValueError("either every fold has held-out rows or none has")
    metric = params["metric"]
    higher_better = {name: higher for name, higher in METRICS.values()}[metric]
    held_out = validated.pop()
    boosters = [_start(fold, spec, params, num_boost_round) for fold in folds]
    best_iteration, best_score = num_boost_round, float("nan")
    for iteration in range(num_boost_round):
        for booster in boosters:
            booster.update()
        if not held_out:
            continue
        score = float(np.mean([_held_out_score(booster, metric) for booster in boosters]))
        improved = np.isnan(best_score) or (
            score > best_score if higher_better else score < best_score
        )
        if improved:
            best_iteration, best_score = iteration + 1, score
        if on_round is not None:
            on_round(iteration, score)
        if iteration + 1 - best_iteration >= early_stopping_rounds:
            break
    trimmed = tuple(_trim(booster, best_iteration) for booster in boosters)
    valid_raw = tuple(
        booster.predict(spec.to_matrix(fold.valid), raw_score=True)
        for booster, fold in zip(trimmed, folds, strict=True)
        if fold.valid is not None
    )
    log.debug(
        "trained %d fold(s) %d rounds, %s=%.5f", len(folds), best_iteration, metric, best_score
    )
    return TrainedBooster(trimmed[0], best_iteration, best_score, trimmed, valid_raw)


def train_booster(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    spec: FeatureSpec,
    params: dict,
    *,
    num_boost_round: int,
    early_stopping_rounds: int,
    on_round: Callable[[int, float], None] | None = None,
) -> TrainedBooster:
    """Fit on `train`, stop early on `valid` (or fit `num_boost_round` rounds without it)."""
    return train_folds(
        [Fold(train, valid)],
        spec,
        params,
        num_boost_round=num_boost_round,
        early_stopping_rounds=early_stopping_rounds,
        on_round=on_round,
    )
