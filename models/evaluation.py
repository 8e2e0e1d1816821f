"""Metrics on the out-of-time test, a logistic-regression baseline and a leakage check.

ECE uses 10 equal-frequency bins (each bin holds a tenth of the rows), so sparse high-risk
bins do not dominate as they do with equal-width bins on a low base rate.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from models.calibration import EPSILON

log = logging.getLogger(__name__)


def expected_calibration_error(label: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |observed rate - mean prediction| over equal-frequency bins."""
    label = np.asarray(label, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    order = np.argsort(probability, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            error += len(chunk) * abs(label[chunk].mean() - probability[chunk].mean())
    return float(error / len(label))


def lift_and_capture(label: np.ndarray, probability: np.ndarray, top: float) -> tuple[float, float]:
    """Top-`top` churn rate over the base rate, and the share of all churners it catches."""
    label = np.asarray(label, dtype=np.float64)
    count = max(round(top * len(label)), 1)
    # Stable sort on the negated score: ties keep row order, so results are reproducible.
    chosen = np.argsort(-np.asarray(probability), kind="stable")[:count]
    base_rate = label.mean()
    caught = label[chosen].sum()
    lift = float(label[chosen].mean() / base_rate) if base_rate > 0 else float("nan")
    capture = float(caught / label.sum()) if label.sum() > 0 else float("nan")
    return lift, capture


def classification_metrics(label: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier, ECE, lift/capture/precision at the top 10% and 20%."""
    label = np.asarray(label, dtype=np.float64)
    probability = np.clip(np.asarray(probability, dtype=np.float64), EPSILON, 1 - EPSILON)
    metrics = {
        "roc_auc": float(roc_auc_score(label, probability)),
        "pr_auc": float(average_precision_score(label, probability)),
        "log_loss": float(log_loss(label, probability, labels=[0, 1])),
        "brier": float(brier_score_loss(label, probability)),
        "ece": expected_calibration_error(label, probability),
        "base_rate": float(label.mean()),
        "mean_prediction": float(probability.mean()),
        "rows": len(label),
        "churners": int(label.sum()),
    }
    for top in (0.1, 0.2):
        lift, capture = lift_and_capture(label, probability, top)
        percent = int(top * 100)
        metrics[f"lift_top{percent}"] = lift
        metrics[f"capture_top{percent}"] = capture
        metrics[f"precision_top{percent}"] = lift * metrics["base_rate"]
    return {
        key: round(value, 6) if isinstance(value, float) else value
        for key, value in metrics.items()
    }


def baseline_columns(frame: pd.DataFrame, wanted: list[str]) -> list[str]:
    """The configured recency/frequency/value columns present and numeric in the matrix."""
    return [
        column
        for column in wanted
        if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column])
    ]


def fit_baseline(train: pd.DataFrame, columns: list[str], seed: int = 0) -> Pipeline | None:
    """Logistic regression on recency/frequency/value, fitted on the training rows only."""
    if not columns:
        log.warning("baseline: none of the configured baseline features exist; no baseline")
        return None
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=1000, random_state=seed),
    )
    model.fit(train[columns].to_numpy(dtype=np.float64), train["churned"].to_numpy())
    return model


def baseline_probability(model: Pipeline, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The baseline's churn probability for each row."""
    return model.predict_proba(frame[columns].to_numpy(dtype=np.float64))[:, 1]


def single_feature_auc(values: pd.Series, label: np.ndarray) -> float | None:
    """ROC AUC of one feature used alone (categories by their churn rate); None if constant."""
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        rate = pd.Series(label, index=values.index).groupby(values.astype("str"), observed=True)
        score = values.astype("str").map(rate.mean()).to_numpy(dtype=np.float64)
    else:
        score = values.to_numpy(dtype=np.float64)
    # Missing values form their own group below every observed value.
    finite = score[np.isfinite(score)]
    if finite.size == 0:
        return None
    score = np.where(np.isfinite(score), score, finite.min() - 1.0)
    if np.unique(score).size < 2 or np.unique(label).size < 2:
        return None
    return float(roc_auc_score(label, score))


def leakage_flags(
    frame: pd.DataFrame, features: list[str], threshold: float = 0.95
) -> list[dict[str, float | str]]:
    """Features whose own AUC (or 1 - AUC) exceeds `threshold`: usually a leaked label."""
    label = frame["churned"].to_numpy(dtype=np.float64)
    flags = []
    for name in features:
        auc = single_feature_auc(frame[name], label)
        if auc is not None and max(auc, 1 - auc) > threshold:
            flags.append({"feature": name, "auc": round(auc, 4)})
            log.warning(
                "possible leakage: feature %s alone has ROC AUC %.3f on the test set", name, auc
            )
    return flags
