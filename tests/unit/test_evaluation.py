"""Calibration, metrics, leakage flags and precision per risk tier on known numbers, untrained."""

from __future__ import annotations

import numpy as np
import pytest

from features.config import Training
from models.calibration import Calibrator, fit_calibrator
from models.evaluation import (
    classification_metrics,
    expected_calibration_error,
    leakage_flags,
    lift_and_capture,
)
from models.split import split_matrix
from tests.fixtures.matrix_fixtures import HORIZON_DAYS, synthetic_matrix


@pytest.fixture(scope="module")
def split():
    return split_matrix(
        synthetic_matrix(customers=1500, cutoffs=4, seed=11), seed=1, horizon_days=HORIZON_DAYS
    )


def test_platt_calibration_recovers_a_known_mapping() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=20000)
    label = (rng.random(20000) < 1 / (1 + np.exp(-(0.5 * raw - 1.0)))).astype(float)
    calibrator = fit_calibrator(raw, label, "platt")
    assert calibrator.params["slope"] == pytest.approx(0.5, abs=0.05)
    assert calibrator.params["intercept"] == pytest.approx(-1.0, abs=0.05)
    assert Calibrator.from_dict(calibrator.to_dict()) == calibrator


def test_isotonic_calibrator_is_monotone_and_bounded() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(size=5000)
    label = (rng.random(5000) < 1 / (1 + np.exp(-2 * raw))).astype(float)
    calibrator = fit_calibrator(raw, label, "isotonic")
    grid = np.linspace(-5, 5, 101)
    probability = calibrator.apply(grid)
    assert np.all(np.diff(probability) >= 0)
    assert probability.min() > 0 and probability.max() < 1


def test_metrics_on_known_numbers() -> None:
    label = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    lift, capture = lift_and_capture(label, score, 0.1)
    assert lift == pytest.approx(5.0) and capture == pytest.approx(0.5)
    lift, capture = lift_and_capture(label, score, 0.2)
    assert lift == pytest.approx(2.5) and capture == pytest.approx(0.5)
    # One bin: a constant equal to the base rate has zero ECE; 0.5 for a 20% rate has 0.3.
    assert expected_calibration_error(label, np.full(10, 0.2), bins=1) == pytest.approx(0.0)
    assert expected_calibration_error(label, np.full(10, 0.5), bins=1) == pytest.approx(0.3)
    # Ten equal-frequency bins of one row each: mean |label - 0.2| = (2 * 0.8 + 8 * 0.2) / 10.
    assert expected_calibration_error(label, np.full(10, 0.2)) == pytest.approx(0.32)
    metrics = classification_metrics(label, score)
    assert metrics["roc_auc"] == pytest.approx(15 / 16)
    assert metrics["precision_top10"] == pytest.approx(1.0)


def test_a_leaked_feature_is_flagged(split) -> None:
    test = split.test.copy()
    test["days_to_cancellation"] = np.where(test["churned"] == 1, 3.0, 400.0)
    flags = leakage_flags(test, ["days_to_cancellation", "noise", "plan"], 0.95)
    assert [flag["feature"] for flag in flags] == ["days_to_cancellation"]
    assert flags[0]["auc"] == pytest.approx(0.0)


def test_training_config_has_bounded_defaults() -> None:
    training = Training()
    assert training.max_leaves <= 63 and training.max_boost_rounds <= 1000
    assert training.num_threads == 1


def test_evaluate_flags_a_cutoff_the_model_trained_or_validated_on() -> None:
    import pandas as pd

    from pipelines.evaluate import in_sample_part

    def day(text: str) -> pd.Timestamp:  # evaluate passes UTC days; the record holds plain dates
        return pd.Timestamp(text, tz="UTC")

    record = {
        "split": {
            "cutoffs": {
                "train": ["2026-01-01", "2026-02-01"],
                "valid": ["2026-04-01"],
                "test": ["2026-06-01"],
            }
        }
    }
    assert in_sample_part(record, day("2026-02-01")) == "train"
    assert in_sample_part(record, day("2026-04-01")) == "valid"
    assert in_sample_part(record, day("2026-06-01")) is None
    assert in_sample_part(record, day("2026-07-01")) is None
    assert in_sample_part(None, day("2026-02-01")) is None
