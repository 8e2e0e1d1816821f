"""Reason codes, value and the drift guard on hand-made numbers (no model needed)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from models.drift import DriftAccumulator, DriftError, DriftLevels, drift_summary, enforce
from models.explain import ReasonBook, reason_codes, top_families
from models.reference import build_reference, feature_psi
from models.spec import FeatureSpec
from models.tiers import check_value_source, customer_value

NAMES = [
    "support_contacts_30d",  # support
    "support_spike_ratio_7d",  # support
    "cancel_page_visits_30d",  # web_journey
    "days_since_last_activity",  # activity
    "revenue_365d",  # value
    "plan",  # profile
]


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def book(cfg):
    return ReasonBook.build(NAMES, cfg, categorical=["plan"])


def frame_of(rows: list[list]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=NAMES)
    frame["plan"] = frame["plan"].astype("category")
    return frame


def test_families_follow_registry_order(book) -> None:
    assert book.families == ["web_journey", "support", "activity", "value", "profile"]


def test_reasons_are_family_sums_ranked_and_worded(book) -> None:
    contributions = np.array(
        [
            # support 0.5 + 0.3 = 0.8, web 0.6, activity -0.2, value 0.1, profile 0.05
            [0.5, 0.3, 0.6, -0.2, 0.1, 0.05],
            # only activity pushes up
            [-0.1, 0.0, -0.3, 0.4, -0.1, -0.2],
        ]
    )
    frame = frame_of([[4.0, 2.5, 3.0, 40.0, 120.0, "basic"], [0.0, 0.0, 0.0, 61.0, 10.0, None]])
    reasons = reason_codes(contributions, frame, book)
    first = reasons.iloc[0]
    assert first["reason_1"] == "contacted support 4 times this month"  # strongest support feature
    assert first["reason_1_contribution"] == pytest.approx(0.8)
    assert first["reason_2"] == "visited the cancel page 3 times this month"
    assert first["reason_2_contribution"] == pytest.approx(0.6)
    assert first["reason_3"] == "paid $120.00 in the last year"
    assert first["reason_1_family"] == "support"
    second = reasons.iloc[1]
    assert second["reason_1"] == "was last active 61 days ago"
    # Families that lower risk are never reasons.
    assert pd.isna(second["reason_2"]) and pd.isna(second["reason_3"])
    assert np.isnan(second["reason_2_contribution"])


def test_ties_break_by_family_then_feature_order(book) -> None:
    contributions = np.array([[0.2, 0.2, 0.4, 0.4, 0.0, 0.4]])
    frame = frame_of([[1.0, 2.0, 1.0, 5.0, 0.0, "plus"]])
    families, _values, features = top_families(contributions, book)
    # support (0.4), web_journey (0.4), activity (0.4), profile (0.4): registry order wins.
    assert [book.families[f] for f in families[0]] == ["web_journey", "support", "activity"]
    # Inside support the two features tie: the first in spec order is named.
    assert book.names[features[0, 1]] == "support_contacts_30d"
    again = reason_codes(contributions, frame, book)
    assert again.equals(reason_codes(contributions, frame, book))


def test_profile_and_missing_values_read_as_words(book) -> None:
    contributions = np.array([[0.0, 0.0, 0.0, 0.5, 0.0, 0.9]])
    frame = frame_of([[0.0, 0.0, 0.0, np.nan, 0.0, "basic"]])
    reasons = reason_codes(contributions, frame, book)
    assert reasons.iloc[0]["reason_1"] == "plan is basic"
    assert reasons.iloc[0]["reason_2"] == "has not been active in the last year"


def test_value_source_and_missing_revenue(cfg) -> None:
    value = cfg.scoring.value.model_copy(update={"source": "revenue", "revenue_days": 365})
    cfg = cfg.model_copy(update={"scoring": cfg.scoring.model_copy(update={"value": value})})
    frame = pd.DataFrame({"revenue_365d": [10.0, np.nan]})
    assert check_value_source(["revenue_365d"], cfg) == "revenue_365d"
    assert customer_value(frame, "revenue_365d").tolist() == [10.0, 0.0]
    with pytest.raises(Exception, match="revenue_365d"):
        check_value_source(["tenure_days"], cfg)


def drift_reference() -> tuple[dict, pd.DataFrame]:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "x": rng.normal(size=5000),
            "plan": pd.Categorical(rng.choice(["a", "b"], 5000)),
        }
    )
    spec = FeatureSpec.from_frame(train)
    # Contributions: x pushes risk by 0.3 log-odds per unit, plan not at all.
    contributions = np.column_stack([0.3 * train["x"].to_numpy(), np.zeros(5000)])
    scores = rng.uniform(size=5000)
    return build_reference(train, spec, scores, contributions), train


LEVELS = DriftLevels(warn_psi=0.1, fail_psi=0.25, max_shift=0.25)


def night(reference: dict, x_shift: float, seed: int, scores_shift: float = 0.0):
    """A night's accumulator: features, scores and contributions with x moved by `x_shift`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"x": rng.normal(x_shift, 1, 4000), "plan": pd.Categorical(rng.choice(["a", "b"], 4000))}
    )
    acc = DriftAccumulator(reference)
    acc.add_features(frame)
    acc.add_scores(np.clip(rng.uniform(size=4000) + scores_shift, 0, 1))
    acc.add_contributions(np.column_stack([0.3 * frame["x"].to_numpy(), np.zeros(4000)]))
    return acc


def test_chunked_drift_equals_one_pass_psi() -> None:
    reference, _train = drift_reference()
    rng = np.random.default_rng(1)
    today = pd.DataFrame(
        {"x": rng.normal(0.5, 1, 3000), "plan": pd.Categorical(rng.choice(["a", "b", "c"], 3000))}
    )
    acc = DriftAccumulator(reference)
    for start in range(0, 3000, 700):
        acc.add_features(today.iloc[start : start + 700])
    for name in ("x", "plan"):
        one_pass = feature_psi(reference["features"][name], today[name])
        assert acc.psi_of(name) == pytest.approx(one_pass, rel=1e-9)


def test_a_steady_night_is_ok_and_a_moved_feature_recommends_retraining() -> None:
    reference, _train = drift_reference()
    names = ["x", "plan"]
    steady = drift_summary(night(reference, 0.0, 1), names, LEVELS)
    assert steady.status == "ok" and not steady.retrain_recommended
    assert steady.shifts["x"] == pytest.approx(0.0, abs=0.02) and steady.shifts["plan"] == 0.0
    # x moved by 1.0: its mean contribution by 0.3 log-odds, above the 0.25 level.
    moved = drift_summary(night(reference, 1.0, 2), names, LEVELS)
    assert moved.shifts["x"] == pytest.approx(0.3, abs=0.02)
    assert moved.warned == ["x"] and moved.retrain_recommended and moved.failed == []
    enforce(moved, allow_drift=False)  # against the reference it only warns
    exempt = drift_summary(night(reference, 1.0, 2), names, replace(LEVELS, exempt=("x",)))
    assert exempt.status == "ok" and "x" not in exempt.shifts and exempt.features["x"] > 0.25
    assert type(moved).from_dict(moved.to_dict()) == moved


def test_a_jump_since_the_previous_night_fails_unless_allowed() -> None:
    reference, _train = drift_reference()
    names = ["x", "plan"]
    yesterday = drift_summary(night(reference, 0.0, 3), names, LEVELS)
    # A slow move compared with yesterday is fine; a jump of one unit in a day is not.
    slow = drift_summary(night(reference, 0.1, 4), names, LEVELS, ("2026-06-30", yesterday))
    assert slow.previous_night == "2026-06-30" and slow.failed == []
    jump = drift_summary(night(reference, 1.0, 5), names, LEVELS, ("2026-06-30", yesterday))
    assert jump.failed == ["x"] and jump.status == "fail"
    assert jump.night_shifts["x"] == pytest.approx(0.3, abs=0.03)
    with pytest.raises(DriftError, match=r"2026-06-30 .*x \(\+0\.3"):
        enforce(jump, allow_drift=False)
    enforce(jump, allow_drift=True)  # allowed: no error
    scores_jump = drift_summary(
        night(reference, 0.0, 6, scores_shift=0.5), names, LEVELS, ("2026-06-30", yesterday)
    )
    assert scores_jump.failed == ["score"] and scores_jump.night_score >= 0.25


def test_grouped_treeshap_equals_lightgbm_pred_contrib() -> None:
    import lightgbm as lgb

    from models.contributions import exact_contributions, tree_splits

    rng = np.random.default_rng(3)
    n = 3000
    counts = rng.poisson(1.0, n).astype(float)  # many zeros and ties, as real counts
    recency = rng.exponential(20.0, n)
    recency[rng.random(n) < 0.1] = np.nan  # "never happened"
    plan = rng.integers(0, 4, n).astype(float)
    noise = rng.normal(size=n)
    matrix = np.column_stack([counts, recency, plan, noise])
    logit = 0.8 * counts - 0.03 * np.nan_to_num(recency, nan=60) + (plan == 2) - 0.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    data = lgb.Dataset(matrix, label, categorical_feature=[2], free_raw_data=False)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 1}
    booster = lgb.train(params, data, num_boost_round=40)
    native = booster.predict(matrix, pred_contrib=True)
    grouped, share = exact_contributions(booster, matrix, tree_splits(booster), num_threads=1)
    np.testing.assert_allclose(grouped, native, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grouped.sum(axis=1), booster.predict(matrix, raw_score=True),
                               rtol=0, atol=1e-9)  # fmt: skip
    assert share < 0.5  # most (row, tree) pairs are copies, not recomputed
    empty, _ = exact_contributions(booster, matrix[:0])
    assert empty.shape == (0, 5)
