"""Value: each customer's expected revenue over the value horizon, learnt from next-period spend.

`scoring.value.source: expected` (the default). A LightGBM regressor with a Tweedie objective
(most customers spend nothing in a period, a few spend a lot) reads the churn model's features
(its `FeatureSpec`) and learns `future_revenue`, the payments in `[cutoff, cutoff + horizon)`.
It uses the churn model's embargoed split: fitted on the training rows, stopped early on the
validation rows, then refitted on both with that round count (validation's label window closes
by the test cutoff and the value model has no calibrator to keep them for); it never sees the
test rows. On them it is judged against the revenue customers actually brought: Spearman rank
correlation and the share of all of it held by the top 10% and 20% by predicted value, beside
the same figures for trailing revenue. Pure functions: frames in, a booster and numbers out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.config import Training
from features.errors import DataContractError
from models.spec import FeatureSpec
from models.split import MatrixSplit
from models.training import base_params

log = logging.getLogger(__name__)

LABEL = "future_revenue"
TOP_SHARES = (0.1, 0.2)


def value_params(seed: int, num_threads: int) -> dict:
    """Fixed settings (no tuning: a second search would double training time for a ranking that
    moved by less than its own noise in the trials on CDNOW); reproducible and quiet."""
    return {
        **base_params(seed, num_threads),
        "objective": "tweedie",
        "tweedie_variance_power": 1.5,
        "metric": "tweedie",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 100,
        "lambda_l2": 1.0,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
    }


def revenue_label(frame: pd.DataFrame, part: str) -> np.ndarray:
    """The rows' future revenue, or a DataContractError naming what is missing."""
    if LABEL not in frame.columns or frame[LABEL].isna().any():
        raise DataContractError(
            [
                f"training matrix: the {part} rows have no {LABEL} (the revenue after each "
                "cutoff, built with payment events in signals.payment); scoring.value.source "
                "'expected' needs it: map payments or choose scoring.value.source revenue or column"
            ]
        )
    # Refunds beyond a period's payments (validation.allow_negative_amounts) are no revenue, not
    # negative revenue: value is never below 0, and the Tweedie objective refuses such a label.
    return np.clip(frame[LABEL].to_numpy(dtype=np.float64), 0.0, None)


def _dataset(frame: pd.DataFrame, spec: FeatureSpec, part: str, reference=None) -> lgb.Dataset:
    return lgb.Dataset(
        spec.to_matrix(frame),
        label=revenue_label(frame, part),
        feature_name=spec.names,
        categorical_feature=spec.categorical_indices,
        reference=reference,
        free_raw_data=False,
        params={"verbosity": -1},
    )


def fit_value_model(split: MatrixSplit, spec: FeatureSpec, training: Training) -> lgb.Booster:
    """The value regressor: rounds chosen on the validation rows, refitted on training and
    validation rows with that count. The test rows are never read."""
    params = value_params(training.seed, training.num_threads)
    train_set = _dataset(split.train, spec, "training")
    valid_set = _dataset(split.valid, spec, "validation", reference=train_set)
    stopped = lgb.train(
        params,
        train_set,
        num_boost_round=training.max_boost_rounds,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(training.early_stopping_rounds, verbose=False)],
    )
    rounds = max(stopped.best_iteration, 1)
    both = _dataset(pd.concat([split.train, split.valid]), spec, "training and validation")
    booster = lgb.train(params, both, num_boost_round=rounds)
    log.info("value model: %d rounds (early stopping on the validation rows), refitted", rounds)
    return lgb.Booster(model_str=booster.model_to_string())


def predict_value(booster: lgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Expected revenue per row over the value horizon (never negative)."""
    if frame.empty:
        return np.zeros(0)
    return np.clip(booster.predict(spec.to_matrix(frame)), 0.0, None)


@dataclass(frozen=True)
class ExpectedValue:
    """Scoring's value source for `scoring.value.source: expected`: a bundle's value model.

    It travels to Spark's executors as its LightGBM text (see `__reduce__`), never as a pickled
    booster, as the churn model does."""

    booster: lgb.Booster
    spec: FeatureSpec

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return predict_value(self.booster, self.spec, frame)

    def __reduce__(self):
        return _expected_value_from_text, (self.booster.model_to_string(), self.spec.to_dict())


def _expected_value_from_text(text: str, spec: dict) -> ExpectedValue:
    return ExpectedValue(lgb.Booster(model_str=text), FeatureSpec.from_dict(spec))


# ---------- evaluation against actual next-period revenue ----------


def top_share(predicted: np.ndarray, actual: np.ndarray, share: float) -> float | None:
    """The share of all actual revenue held by the top `share` of rows by predicted value
    (ceil(share x rows) rows; ties in the prediction keep row order). None without revenue."""
    total = float(np.sum(actual))
    if len(actual) == 0 or total <= 0:
        return None
    top = int(np.ceil(share * len(actual)))
    order = np.argsort(-np.asarray(predicted, dtype=np.float64), kind="stable")
    return float(np.sum(np.asarray(actual)[order[:top]]) / total)


def value_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float | None]:
    """Spearman rank correlation (ties averaged) and the top-10%/20% revenue shares."""
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    constant = len(actual) < 2 or np.ptp(actual) == 0 or np.ptp(predicted) == 0
    # Spearman = Pearson correlation of the average ranks.
    ranks = pd.DataFrame({"p": predicted, "a": actual}).rank()
    spearman = None if constant else float(ranks["p"].corr(ranks["a"]))
    metrics: dict[str, float | None] = {"spearman": spearman}
    for share in TOP_SHARES:
        metrics[f"top{round(share * 100)}_share"] = top_share(predicted, actual, share)
    return {key: None if v is None else round(v, 6) for key, v in metrics.items()}


def evaluate_value(
    predicted: np.ndarray | None,
    test: pd.DataFrame,
    horizon_days: int,
    trailing_column: str | None,
) -> dict | None:
    """The value section of an evaluation: the value model (when there is one) and trailing
    revenue (when the column is in the matrix) against actual revenue in the value horizon
    after the test cutoff. None when the test rows carry no revenue label."""
    if LABEL not in test.columns or test[LABEL].isna().all():
        return None
    actual = test[LABEL].to_numpy(dtype=np.float64)
    sources = {}
    if predicted is not None:
        sources["expected"] = value_metrics(predicted, actual)
    if trailing_column is not None and trailing_column in test.columns:
        trailing = pd.to_numeric(test[trailing_column], errors="coerce").fillna(0.0)
        sources[f"trailing {trailing_column}"] = value_metrics(trailing.to_numpy(), actual)
    if not sources:
        return None
    return {
        "actual": f"revenue in the {horizon_days} days after the test cutoff",
        "rows": len(test),
        "actual_total": round(float(actual.sum()), 2),
        "actual_mean": round(float(actual.mean()), 4),
        "predicted_mean": None if predicted is None else round(float(np.mean(predicted)), 4),
        "sources": sources,
    }
