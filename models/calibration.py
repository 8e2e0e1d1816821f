"""Probability calibration on the booster's raw score, stored as plain parameters.

Platt scaling is two numbers; isotonic is two arrays interpolated linearly. "auto" picks the
one with the lower out-of-fold log loss on the validation cutoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

log = logging.getLogger(__name__)

EPSILON = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw LightGBM score (log-odds) to a calibrated probability."""

    method: str
    params: dict = field(default_factory=dict)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            logit = self.params["slope"] * raw + self.params["intercept"]
            return 1.0 / (1.0 + np.exp(-logit))
        if self.method == "isotonic":
            probability = np.interp(raw, self.params["x"], self.params["y"])
            # Keep away from exact 0/1 so log loss stays finite on unseen extremes.
            return np.clip(probability, EPSILON, 1 - EPSILON)
        if self.method == "identity":
            return 1.0 / (1.0 + np.exp(-raw))
        raise ValueError(f"unknown calibration method {self.method!r}")

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(method=data["method"], params=data.get("params", {}))


def fit_platt(raw: np.ndarray, label: np.ndarray) -> Calibrator:
    """Logistic regression of the label on the raw score (nearly unregularised)."""
    model = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
    model.fit(np.asarray(raw, dtype=np.float64).reshape(-1, 1), label)
    return Calibrator(
        "platt", {"slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
    )


def fit_isotonic(raw: np.ndarray, label: np.ndarray) -> Calibrator:
    """Monotone step function of the raw score, stored as its breakpoints."""
    model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    model.fit(np.asarray(raw, dtype=np.float64), label)
    return Calibrator(
        "isotonic",
        {
            "x": [float(v) for v in model.X_thresholds_],
            "y": [float(v) for v in model.y_thresholds_],
        },
    )


FITTERS = {"platt": fit_platt, "isotonic": fit_isotonic}


def _out_of_fold_log_loss(raw: np.ndarray, label: np.ndarray, method: str, seed: int) -> float:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    predicted = np.empty_like(raw)
    for fit_index, held_index in folds.split(raw.reshape(-1, 1), label):
        calibrator = FITTERS[method](raw[fit_index], label[fit_index])
        predicted[held_index] = calibrator.apply(raw[held_index])
    return float(log_loss(label, np.clip(predicted, EPSILON, 1 - EPSILON)))


def fit_calibrator(
    raw: np.ndarray, label: np.ndarray, method: str = "auto", seed: int = 0
) -> Calibrator:
    """Fit the requested calibrator on validation scores; "auto" compares them out of fold."""
    raw = np.asarray(raw, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if method == "auto":
        scores = {name: _out_of_fold_log_loss(raw, label, name, seed) for name in FITTERS}
        method = min(scores, key=scores.get)
        log.info("calibration: out-of-fold log loss %s -> %s", scores, method)
    calibrator = FITTERS[method](raw, label)
    log.info("calibrator: %s", calibrator.method)
    return calibrator
