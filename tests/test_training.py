"""Training, tuning, calibration, evaluation and the saved bundle, on the seeded matrix."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from features.config import Training, load_config
from models.bundle import ModelBundle
from models.calibration import Calibrator, fit_calibrator
from models.evaluation import (
    classification_metrics,
    expected_calibration_error,
    leakage_flags,
    lift_and_capture,
)
from models.fitting import evaluate_bundle, fit_model
from models.reference import feature_psi
from models.split import split_matrix
from models.tuning import tune
from tests.matrix_fixtures import synthetic_matrix, true_probability


def small_config(trials: int = 2):
    cfg = load_config()
    training = cfg.training.model_copy(
        update={"trials": trials, "max_boost_rounds": 120, "early_stopping_rounds": 15}
    )
    return cfg.model_copy(update={"training": training})


@pytest.fixture(scope="module")
def split():
    return split_matrix(synthetic_matrix(customers=1500, cutoffs=4, seed=11), seed=1)


@pytest.fixture(scope="module")
def fitted(split, tmp_path_factory):
    folder = tmp_path_factory.mktemp("optuna")
    return fit_model(split, small_config().training, folder, "study-a")


def test_model_learns_the_planted_signal(split, fitted) -> None:
    test = split.test
    auc = roc_auc_score(test["churned"], fitted.bundle.predict_proba(test))
    ceiling = roc_auc_score(test["churned"], true_probability(test))
    assert auc > 0.72
    assert auc > ceiling - 0.05


def test_same_seed_and_data_give_identical_model_text_and_metrics(split, fitted, tmp_path) -> None:
    again = fit_model(split, small_config().training, tmp_path, "study-b")
    assert again.bundle.booster.model_to_string() == fitted.bundle.booster.model_to_string()
    assert again.bundle.calibrator == fitted.bundle.calibrator
    cfg = small_config()
    assert evaluate_bundle(again.bundle, split, cfg.training, cfg.scoring.tiers).model == (
        evaluate_bundle(fitted.bundle, split, cfg.training, cfg.scoring.tiers).model
    )


def test_calibrator_is_applied(split, fitted) -> None:
    bundle = fitted.bundle
    raw = bundle.raw_score(split.test)
    probability = bundle.predict_proba(split.test)
    sigmoid = 1.0 / (1.0 + np.exp(-raw))
    assert np.abs(probability - sigmoid).max() > 1e-3
    np.testing.assert_allclose(probability, bundle.calibrator.apply(raw))


def test_bundle_round_trips_without_pickle(split, fitted, tmp_path, monkeypatch) -> None:
    folder = fitted.bundle.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "calibrator.json",
        "model.txt",
        "reference.json",
        "spec.json",
    ]

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used on the model load path")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = ModelBundle.load(folder)
    np.testing.assert_array_equal(
        loaded.predict_proba(split.test), fitted.bundle.predict_proba(split.test)
    )
    assert loaded.spec.categories["plan"] == ["basic", "plus", "premium"]


def test_category_codes_follow_the_spec_not_the_frame(split, fitted) -> None:
    """Scoring a frame whose category order differs (or is plain strings) gives the same scores."""
    test = split.test.copy()
    expected = fitted.bundle.predict_proba(test)
    reordered = test.copy()
    reordered["plan"] = reordered["plan"].cat.reorder_categories(["premium", "plus", "basic"])
    as_text = test.copy()
    as_text["plan"] = test["plan"].astype("str")
    np.testing.assert_array_equal(fitted.bundle.predict_proba(reordered), expected)
    np.testing.assert_array_equal(fitted.bundle.predict_proba(as_text), expected)


def test_contributions_sum_to_raw_score(split, fitted) -> None:
    contributions = fitted.bundle.contributions(split.test.head(200))
    np.testing.assert_allclose(
        contributions.sum(axis=1), fitted.bundle.raw_score(split.test.head(200)), atol=1e-9
    )


def test_drift_reference_is_stable_on_training_rows(split, fitted) -> None:
    reference = fitted.bundle.reference
    assert feature_psi(reference["features"]["revenue_365d"], split.train["revenue_365d"]) < 1e-9
    shifted = split.train["revenue_365d"] * 3
    assert feature_psi(reference["features"]["revenue_365d"], shifted) > 0.25


def test_interrupted_study_resumes(split, tmp_path) -> None:
    training = small_config(trials=2).training
    spec = fit_model.__globals__["FeatureSpec"].from_frame(split.train)
    first = tune(split.train, split.valid, spec, training, tmp_path, "resume")
    assert first.trials_run == 2
    again = tune(split.train, split.valid, spec, training, tmp_path, "resume")
    assert again.trials_run == 0 and again.trials_total == 2
    assert again.params == first.params
    more = training.model_copy(update={"trials": 3})
    resumed = tune(split.train, split.valid, spec, more, tmp_path, "resume")
    assert resumed.trials_run == 1 and resumed.trials_total == 3
    assert Path(resumed.storage_path).is_file()


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


def test_evaluation_reports_baseline_beside_model(split, fitted) -> None:
    report = evaluate_bundle(
        fitted.bundle, split, small_config().training, small_config().scoring.tiers
    )
    assert report.baseline["features"] == [
        "days_since_last_activity",
        "purchases_365d",
        "revenue_365d",
        "tenure_days",
    ]
    assert report.baseline["rows"] == report.model["rows"] == len(split.test)
    assert 0.6 < report.baseline["roc_auc"] < report.model["roc_auc"] + 0.05
    assert report.leakage_flags == []
    assert report.model["ece"] < 0.05


def test_training_config_has_bounded_defaults() -> None:
    training = Training()
    assert training.max_leaves <= 63 and training.max_boost_rounds <= 1000
    assert training.num_threads == 1


# ---------- single snapshot: k-fold cross-validation instead of a validation slice ----------


@pytest.fixture(scope="module")
def snapshot_split():
    frame = synthetic_matrix(customers=1200, cutoffs=1, seed=5, split_column=True)
    return split_matrix(frame, seed=1)


def test_customer_folds_are_disjoint_stratified_and_cover_every_row(snapshot_split) -> None:
    from models.split import customer_folds

    rows = snapshot_split.fit_rows
    folds = customer_folds(rows, 5, seed=3)
    held = np.concatenate([h for _fit, h in folds])
    assert sorted(held) == list(range(len(rows)))
    rate = rows["churned"].mean()
    for fit, part in folds:
        assert not set(rows["customer_id"].iloc[fit]) & set(rows["customer_id"].iloc[part])
        assert len(fit) + len(part) == len(rows)
        assert rows["churned"].iloc[part].mean() == pytest.approx(rate, abs=0.02)
    assert [h.tolist() for _f, h in customer_folds(rows, 5, seed=3)] == [
        h.tolist() for _f, h in folds
    ]


def test_single_snapshot_calibrates_out_of_fold_and_never_trains_on_test(
    snapshot_split, tmp_path, monkeypatch
) -> None:
    import pandas as pd

    import models.fitting as train_module
    import models.training as training_module
    from models.training import train_folds
    from models.tuning import make_folds

    split = snapshot_split
    assert split.cross_validated and split.method == "given_split"
    test_ids = set(split.test["customer_id"])
    fit_rows = split.fit_rows
    assert len(fit_rows) == len(split.train) + len(split.valid)

    seen: list[pd.DataFrame] = []
    real_dataset = training_module.lgb_dataset

    def recording_dataset(frame, spec, reference=None):
        seen.append(frame)
        return real_dataset(frame, spec, reference)

    calibrated: dict = {}
    real_calibrator = train_module.fit_calibrator

    def recording_calibrator(raw, label, method, seed):
        calibrated.update(raw=np.asarray(raw), label=np.asarray(label))
        return real_calibrator(raw, label, method, seed)

    monkeypatch.setattr(training_module, "lgb_dataset", recording_dataset)
    monkeypatch.setattr(train_module, "fit_calibrator", recording_calibrator)
    cfg = small_config(trials=2)
    fitted = fit_model(split, cfg.training, tmp_path, "snapshot")

    # No LightGBM dataset (fitted or held out, in any trial or the final fit) holds a test row.
    assert seen and all(not set(frame["customer_id"]) & test_ids for frame in seen)
    # The final booster learned from every non-test row, for the cross-validated round count.
    assert any(len(frame) == len(fit_rows) for frame in seen)
    assert fitted.bundle.booster.num_trees() == fitted.best_iteration
    # The calibrator saw one out-of-fold score per non-test row: the CV boosters' held-out scores.
    training = cfg.training
    folds = make_folds(fit_rows, None, training)
    assert len(folds) == training.cv_folds
    monkeypatch.setattr(training_module, "lgb_dataset", real_dataset)
    cross = train_folds(
        folds,
        fitted.bundle.spec,
        fitted.tuning.params,
        num_boost_round=training.max_boost_rounds,
        early_stopping_rounds=training.early_stopping_rounds,
    )
    assert cross.best_iteration == fitted.best_iteration
    assert len(calibrated["raw"]) == len(fit_rows)
    np.testing.assert_array_equal(calibrated["raw"], np.concatenate(cross.valid_raw))
    np.testing.assert_array_equal(
        calibrated["label"], np.concatenate([fold.valid["churned"].to_numpy() for fold in folds])
    )
    # Out-of-fold, not in-sample: the final booster's own scores on those rows differ.
    in_sample = fitted.bundle.raw_score(pd.concat([fold.valid for fold in folds]))
    assert np.abs(in_sample - calibrated["raw"]).max() > 0.05
    # And the model still learns the planted signal on the untouched test rows.
    auc = roc_auc_score(split.test["churned"], fitted.bundle.predict_proba(split.test))
    assert auc > 0.7


def test_precision_per_risk_tier_on_hand_computed_numbers() -> None:
    from features.config import Tiers
    from models.evaluation import precision_by_tier

    tiers = Tiers(high_expected_loss=10.0, medium_expected_loss=1.0, high_risk=0.3, medium_risk=0.1)
    # Thresholds are "at or above": 0.3 is high and 0.1 is medium, 0.29 is medium.
    probability = np.array([0.9, 0.5, 0.3, 0.29, 0.1, 0.05, 0.0])
    label = np.array([1, 0, 1, 1, 0, 0, 0])
    rows = precision_by_tier(label, probability, tiers)
    assert [(r["tier"], r["customers"], r["churners"]) for r in rows] == [
        ("high", 3, 2),
        ("medium", 2, 1),
        ("low", 2, 0),
    ]
    assert [r["precision"] for r in rows] == pytest.approx([2 / 3, 0.5, 0.0], abs=1e-6)
    assert [r["mean_probability"] for r in rows] == pytest.approx(
        [1.7 / 3, 0.39 / 2, 0.05 / 2], abs=1e-6
    )
    # An empty tier reports None, not NaN, so the JSON report stays valid.
    strict = tiers.model_copy(update={"high_risk": 0.95})
    high = precision_by_tier(label, probability, strict)[0]
    assert (high["customers"], high["precision"], high["mean_probability"]) == (0, None, None)


def test_evaluation_reports_precision_per_risk_tier(split, fitted) -> None:
    from reporting.evaluation_card import feature_importance, report_markdown

    report = evaluate_bundle(
        fitted.bundle, split, small_config().training, small_config().scoring.tiers
    )
    tiers = report.risk_tiers
    assert [row["tier"] for row in tiers] == ["high", "medium", "low"]
    assert sum(row["customers"] for row in tiers) == len(split.test)
    assert sum(row["churners"] for row in tiers) == report.model["churners"]
    markdown = report_markdown(report, feature_importance(fitted.bundle))
    high = tiers[0]
    assert f"| high | {high['customers']} | {high['churners']} |" in markdown
