"""Training, tuning, calibration, evaluation and the saved bundle, on the seeded matrix."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.bundle import ModelBundle
from models.fitting import evaluate_bundle, fit_model
from models.reference import feature_psi, reference_rows
from models.split import split_matrix
from models.tuning import tune
from tests.fixtures.configs import quick_config
from tests.fixtures.matrix_fixtures import HORIZON_DAYS, synthetic_matrix, true_probability

# Every test here trains (or tunes) a model; the pure steps are in tests/unit/test_evaluation.py.
pytestmark = pytest.mark.slow


TRAILING_REVENUE = {"source": "revenue", "revenue_days": 365}


@pytest.fixture(scope="module")
def split():
    return split_matrix(
        synthetic_matrix(customers=1500, cutoffs=4, seed=11), seed=1, horizon_days=HORIZON_DAYS
    )


@pytest.fixture(scope="module")
def fitted(split, tmp_path_factory):
    folder = tmp_path_factory.mktemp("optuna")
    return fit_model(split, quick_config().training, folder, "study-a")


def test_model_learns_the_planted_signal(split, fitted) -> None:
    test = split.test
    auc = roc_auc_score(test["churned"], fitted.bundle.predict_proba(test))
    ceiling = roc_auc_score(test["churned"], true_probability(test))
    assert auc > 0.72
    assert auc > ceiling - 0.05


def test_same_seed_and_data_give_identical_model_text_and_metrics(split, fitted, tmp_path) -> None:
    again = fit_model(split, quick_config().training, tmp_path, "study-b")
    assert again.bundle.booster.model_to_string() == fitted.bundle.booster.model_to_string()
    assert again.bundle.calibrator == fitted.bundle.calibrator
    cfg = quick_config(value=TRAILING_REVENUE)
    assert evaluate_bundle(again.bundle, split, cfg).model == (
        evaluate_bundle(fitted.bundle, split, cfg).model
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
        "checksums.json",
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


def test_drift_reference_is_the_latest_training_cutoff(split, fitted) -> None:
    reference = fitted.bundle.reference
    latest = reference_rows(split.train)
    assert latest["cutoff"].nunique() == 1 and latest["cutoff"].max() == split.train["cutoff"].max()
    assert reference["cutoff"] == f"{latest['cutoff'].max():%Y-%m-%d}"
    assert reference["rows"] == len(latest)
    assert feature_psi(reference["features"]["revenue_365d"], latest["revenue_365d"]) < 1e-9
    shifted = latest["revenue_365d"] * 3
    assert feature_psi(reference["features"]["revenue_365d"], shifted) > 0.25
    # The mean exact contribution of each feature on those rows, for contribution drift.
    contributions = fitted.bundle.contributions(latest)
    for name in ("revenue_365d", "tenure_days"):
        assert reference["contributions"][name] == pytest.approx(contributions[name].mean())


def test_interrupted_study_resumes(split, tmp_path) -> None:
    training = quick_config(trials=2).training
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


def test_evaluation_reports_baseline_beside_model(split, fitted) -> None:
    report = evaluate_bundle(fitted.bundle, split, quick_config(value=TRAILING_REVENUE))
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


# ---------- single snapshot: k-fold cross-validation instead of a validation slice ----------


@pytest.fixture(scope="module")
def snapshot_split():
    frame = synthetic_matrix(customers=1200, cutoffs=1, seed=5, split_column=True)
    return split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)


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
    cfg = quick_config(trials=2)
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


def test_evaluation_reports_the_budgets_profit_curve_and_empc(split, fitted) -> None:
    from reporting.evaluation_card import feature_importance, report_markdown

    # The fixture matrix has trailing revenue, no plan price: value from it.
    report = evaluate_bundle(fitted.bundle, split, quick_config(value=TRAILING_REVENUE))
    decisions = report.decisions
    tiers = decisions["tiers"]
    assert sum(row["customers"] for row in tiers.values()) == len(split.test)
    assert tiers["high"]["customers"] <= 0.05 * len(split.test)
    # Acting on the ranking within the budget beats contacting everyone, and nobody.
    assert decisions["budget"] > decisions["contact_everyone"]
    assert decisions["budget"] > decisions["contact_nobody"] == 0.0
    curve = pd.DataFrame(decisions["curve"])
    assert curve["share_contacted"].iloc[[0, -1]].tolist() == [0.0, 1.0]
    assert curve["profit"].iloc[-1] == pytest.approx(decisions["contact_everyone"])
    # EMPC is the best of the curve on average over the save rate: above zero here.
    assert report.model["empc"] == decisions["empc_per_customer"] > 0
    markdown = report_markdown(report, feature_importance(fitted.bundle))
    assert f"| high | {tiers['high']['customers']} | {tiers['high']['churners']} |" in markdown
    assert "EMPC" in markdown
