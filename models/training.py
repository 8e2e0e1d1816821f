"""One training function, used by every tuning trial and by the final fit."""

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
class TrainedBooster:
    booster: lgb.Booster
    best_iteration: int
    valid_score: float


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


def train_booster(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    spec: FeatureSpec,
    params: dict,
    *,
    num_boost_round: int,
    early_stopping_rounds: int,
    callbacks: Sequence[Callable] = (),
) -> TrainedBooster:
    """Fit on `train`, stop early on `valid`; return the booster cut at its best iteration."""
    train_set = lgb_dataset(train, spec)
    valid_set = lgb_dataset(valid, spec, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=num_boost_round,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False),
            *callbacks,
        ],
    )
    best_iteration = booster.best_iteration or booster.current_iteration()
    metric = params["metric"]
    valid_score = float(booster.best_score["valid"][metric])
    log.debug("trained %d rounds, valid %s=%.5f", best_iteration, metric, valid_score)
    # Keep only the trees up to the best iteration so model text and scoring agree exactly.
    trimmed = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration))
    return TrainedBooster(trimmed, best_iteration, valid_score)
