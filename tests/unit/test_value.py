"""Value (models.value): expected revenue over the value horizon, its metrics against actual
revenue, the value model in the bundle, and where scoring takes each customer's value from."""

from __future__ import annotations

import hashlib
import json
import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.errors import ChurnError, ConfigError
from models import value as value_module
from models.bundle import CHECKSUMS, FILES, ModelBundle
from models.calibration import Calibrator
from models.spec import FeatureSpec
from models.split import split_matrix
from models.tiers import check_value_source, customer_value
from models.value import (
    ExpectedValue,
    evaluate_value,
    fit_value_model,
    top_share,
    value_metrics,
)
from tests.fixtures.configs import quick_config
from tests.fixtures.matrix_fixtures import HORIZON_DAYS, synthetic_matrix

# ---------- metrics on a hand-computed example ----------

# Five customers: actual revenue 0, 10, 0, 30, 60 (total 100).
ACTUAL = np.array([0.0, 10.0, 0.0, 30.0, 60.0])


def test_top_share_is_the_revenue_held_by_the_top_rows_by_prediction() -> None:
    predicted = np.array([5.0, 1.0, 2.0, 4.0, 3.0])
    # Top 20% = ceil(1) row: the first customer (predicted 5) brought 0 of 100.
    assert top_share(predicted, ACTUAL, 0.2) == 0.0
    # Top 40% = 2 rows: predicted 5 and 4 -> 0 + 30.
    assert top_share(predicted, ACTUAL, 0.4) == pytest.approx(0.3)
    # Top 10% of 5 rows rounds up to one row; the perfect ranking holds 60 of 100.
    assert top_share(ACTUAL, ACTUAL, 0.1) == pytest.approx(0.6)
    assert top_share(predicted, np.zeros(5), 0.1) is None


def test_value_metrics_on_a_tiny_example() -> None:
    predicted = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    metrics = value_metrics(predicted, ACTUAL)
    # Ranks of actual with ties averaged: 1.5, 3, 1.5, 4, 5; of predicted 1..5. Their Pearson
    # correlation: sum of products of deviations 8 / sqrt(10 x 9.5) = 0.820783.
    assert metrics["spearman"] == pytest.approx(0.820783, abs=1e-6)
    assert metrics["top10_share"] == pytest.approx(0.6)  # one row: predicted 5 -> 60
    assert metrics["top20_share"] == pytest.approx(0.6)  # ceil(0.2 x 5) = 1 row
    reversed_metrics = value_metrics(predicted[::-1], ACTUAL)
    assert reversed_metrics["spearman"] == pytest.approx(-0.820783, abs=1e-6)
    assert reversed_metrics["top10_share"] == 0.0
    # A constant prediction ranks nothing.
    assert value_metrics(np.ones(5), ACTUAL)["spearman"] is None


def test_evaluate_value_reports_the_model_beside_trailing_revenue() -> None:
    test = pd.DataFrame({"future_revenue": ACTUAL, "revenue_365d": [0.0, 5.0, 1.0, 2.0, 9.0]})
    section = evaluate_value(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), test, 182, "revenue_365d")
    assert section["actual"] == "revenue in the 182 days after the test cutoff"
    assert section["actual_total"] == 100.0 and section["rows"] == 5
    assert section["sources"]["expected"]["top10_share"] == pytest.approx(0.6)
    trailing = section["sources"]["trailing revenue_365d"]
    assert trailing == value_metrics(test["revenue_365d"].to_numpy(), ACTUAL)
    # Without the label (given labels, no payments) there is nothing to report.
    assert evaluate_value(None, test.drop(columns="future_revenue"), 182, "revenue_365d") is None


# ---------- the value model: fitted on training and validation rows only ----------


@pytest.fixture(scope="module")
def split():
    return split_matrix(
        synthetic_matrix(customers=400, cutoffs=4, seed=3), seed=1, horizon_days=HORIZON_DAYS
    )


def test_the_value_model_never_sees_test_rows(split, monkeypatch) -> None:
    seen: list[pd.DataFrame] = []
    real = value_module._dataset

    def recording(frame, spec, part, reference=None):
        seen.append(frame)
        return real(frame, spec, part, reference)

    monkeypatch.setattr(value_module, "_dataset", recording)
    spec = FeatureSpec.from_frame(split.train)
    booster = fit_value_model(split, spec, quick_config().training)
    test_keys = set(zip(split.test["customer_id"], split.test["cutoff"], strict=True))
    assert len(seen) == 3  # training, validation (early stopping), both (the refit)
    for frame in seen:
        assert not set(zip(frame["customer_id"], frame["cutoff"], strict=True)) & test_keys
    assert sum(len(frame) for frame in seen[:2]) == len(seen[2])
    # It learns the planted spend: better than trailing revenue at ranking future revenue.
    predicted = ExpectedValue(booster, spec)(split.test)
    assert (predicted >= 0).all()
    model = value_metrics(predicted, split.test["future_revenue"].to_numpy())
    trailing = value_metrics(split.test["revenue_365d"], split.test["future_revenue"].to_numpy())
    assert model["spearman"] > trailing["spearman"] + 0.02


def test_net_refunds_in_a_period_count_as_no_revenue(split) -> None:
    from models.split import MatrixSplit

    refunded = split.train.copy()
    refunded.loc[refunded.index[:5], "future_revenue"] = -20.0  # refunds beyond the payments
    spec = FeatureSpec.from_frame(split.train)
    fit_value_model(
        MatrixSplit(refunded, split.valid, split.test, "time", ""), spec, quick_config().training
    )


def test_a_matrix_without_future_revenue_is_refused_with_the_fix(split) -> None:
    from features.errors import DataContractError
    from models.split import MatrixSplit

    spec = FeatureSpec.from_frame(split.train)
    bare = MatrixSplit(
        split.train.drop(columns="future_revenue"), split.valid, split.test, "time", ""
    )
    with pytest.raises(DataContractError, match=r"scoring\.value\.source"):
        fit_value_model(bare, spec, quick_config().training)


# ---------- the bundle carries value.txt, checksummed ----------


def tiny_bundle(with_value: bool) -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    label = (frame["x1"] + rng.normal(size=300) > 0).astype(int)
    spec = FeatureSpec.from_frame(frame, names=["x1", "x2"])
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0}
    matrix = spec.to_matrix(frame)
    booster = lgb.train(params, lgb.Dataset(matrix, label), num_boost_round=5)
    value = None
    if with_value:
        revenue = np.exp(frame["x2"].to_numpy())
        value_params = {**params, "objective": "tweedie"}
        value = lgb.train(value_params, lgb.Dataset(matrix, revenue), num_boost_round=5)
    calibrator = Calibrator("platt", {"slope": 1.0, "intercept": 0.0})
    return ModelBundle(booster, calibrator, spec, {"bins": {}}, value), frame


def test_a_bundle_round_trips_its_value_model_and_checksums_it(tmp_path) -> None:
    bundle, frame = tiny_bundle(with_value=True)
    folder = bundle.save(tmp_path / "model")
    record = json.loads((folder / CHECKSUMS).read_text())
    assert set(record) == {*FILES, "value.txt"}
    assert record["value.txt"] == hashlib.sha256((folder / "value.txt").read_bytes()).hexdigest()
    loaded = ModelBundle.load(folder)
    np.testing.assert_array_equal(loaded.expected_value(frame), bundle.expected_value(frame))
    assert (loaded.expected_value(frame) > 0).all()


def test_a_bundle_without_a_value_model_still_loads(tmp_path) -> None:
    bundle, frame = tiny_bundle(with_value=False)
    folder = bundle.save(tmp_path / "model")
    assert not (folder / "value.txt").exists()
    assert set(json.loads((folder / CHECKSUMS).read_text())) == set(FILES)
    loaded = ModelBundle.load(folder)
    assert loaded.value_model is None
    with pytest.raises(ChurnError, match="no value model"):
        loaded.expected_value(frame)


def test_a_tampered_removed_or_added_value_model_is_refused(tmp_path) -> None:
    bundle, _ = tiny_bundle(with_value=True)
    folder = bundle.save(tmp_path / "model")
    value = folder / "value.txt"
    text = value.read_text()
    value.write_text(text + " ")
    with pytest.raises(ChurnError, match=r"value\.txt does not match its recorded checksum"):
        ModelBundle.load(folder)
    value.unlink()  # a recorded value model that is gone
    with pytest.raises(ChurnError, match=r"value\.txt is missing"):
        ModelBundle.load(folder)
    plain = tiny_bundle(with_value=False)[0].save(tmp_path / "plain")
    (plain / "value.txt").write_text(text)  # a value model slipped in after registration
    with pytest.raises(ChurnError, match=r"value\.txt does not match its recorded checksum"):
        ModelBundle.load(plain)


def test_a_champion_without_a_value_model_is_compared_on_everything_but_profit() -> None:
    from types import SimpleNamespace

    from models.fitting import champion_metrics

    cfg = quick_config(value={"source": "expected"})
    champion, frame = tiny_bundle(with_value=False)
    rng = np.random.default_rng(1)
    split = SimpleNamespace(test=frame.assign(churned=(rng.random(len(frame)) < 0.3) * 1.0))
    metrics = champion_metrics(champion, split, cfg)
    assert "empc" not in metrics and 0 < metrics["roc_auc"] < 1
    priced = champion_metrics(tiny_bundle(with_value=True)[0], split, cfg)
    assert "empc" in priced and priced["log_loss"] == metrics["log_loss"]


# ---------- scoring: where the value comes from ----------


def test_expected_value_comes_from_the_bundle_and_travels_as_text(monkeypatch) -> None:
    cfg = quick_config(value={"source": "expected"})
    bundle, frame = tiny_bundle(with_value=True)
    source = check_value_source(list(frame.columns), cfg, bundle)
    assert isinstance(source, ExpectedValue)
    np.testing.assert_array_equal(customer_value(frame, source), bundle.expected_value(frame))
    # To Spark's executors it pickles as its model text, never as a pickled booster.
    monkeypatch.setattr(
        lgb.Booster, "__getstate__", lambda self: pytest.fail("booster pickled"), raising=False
    )
    copy = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(customer_value(frame, copy), customer_value(frame, source))
    without = tiny_bundle(with_value=False)[0]
    with pytest.raises(ConfigError, match=r"scoring\.value\.source is 'expected'.*retrain"):
        check_value_source(list(frame.columns), cfg, without)


def test_revenue_and_column_sources_are_unchanged() -> None:
    cfg = quick_config(value={"source": "revenue", "revenue_days": 365})
    frame = pd.DataFrame({"revenue_365d": [10.0, np.nan]})
    assert check_value_source(["revenue_365d"], cfg) == "revenue_365d"
    assert customer_value(frame, "revenue_365d").tolist() == [10.0, 0.0]
    assert customer_value(frame, None).tolist() == [0.0, 0.0]
