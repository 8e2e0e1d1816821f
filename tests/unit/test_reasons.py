"""Reasons that hold up: the contribution floor, wording in plain words, the protective factor
and the direction of the top reason, on hand-made numbers and a tiny model."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from features.registry import available_builders
from models.bundle import ModelBundle
from models.calibration import Calibrator
from models.explain import (
    FALLBACK_REASON_FLOOR,
    ReasonBook,
    floor_words,
    reason_codes,
    resolve_floor,
)
from models.reference import REASON_FLOOR_SHARE, build_reference, typical_value
from models.spec import FeatureSpec

NAMES = [
    "support_contacts_30d",  # support
    "cancel_page_visits_30d",  # web_journey
    "days_since_last_activity",  # activity
    "active_days_30d",  # activity
    "revenue_365d",  # value
    "purchases_365d",  # value
    "country",  # profile
]
# Words no sentence may contain: a snake_case name, a wrong plural, "0 days".
BAD = re.compile(r"[a-z]+_[a-z]+|\b1 times\b|\b1 payments\b|\b0 days\b|\b1 days\b|\{|\}")


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def training_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    recency = rng.exponential(20.0, n)
    recency[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "support_contacts_30d": rng.poisson(0.5, n).astype(float),
            "cancel_page_visits_30d": rng.poisson(0.3, n).astype(float),
            "days_since_last_activity": recency,
            "active_days_30d": rng.integers(0, 31, n).astype(float),
            "revenue_365d": rng.gamma(2.0, 50.0, n),
            "purchases_365d": rng.poisson(6, n).astype(float),
            "country": pd.Categorical(rng.choice(["US", "GB", "new_zealand"], n)),
        }
    )
    return frame


@pytest.fixture(scope="module")
def reference() -> dict:
    train = training_frame()
    rng = np.random.default_rng(1)
    contributions = rng.normal(0, 0.3, size=(len(train), len(NAMES)))
    return build_reference(train, FeatureSpec.from_frame(train), rng.uniform(size=len(train)),
                           contributions)  # fmt: skip


@pytest.fixture(scope="module")
def book(cfg, reference) -> ReasonBook:
    return ReasonBook.build(NAMES, cfg, categorical=["country"], reference=reference)


def frame_of(rows: list[list]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=NAMES)
    frame["country"] = frame["country"].astype("category")
    return frame


def test_auto_floor_is_a_share_of_the_raw_score_spread(cfg, reference, book) -> None:
    train = training_frame()
    contributions = np.random.default_rng(1).normal(0, 0.3, size=(len(train), len(NAMES)))
    expected = REASON_FLOOR_SHARE * contributions.sum(axis=1).std()
    assert reference["reason_floor"]["auto"] == pytest.approx(expected)
    assert 0 < book.floor == pytest.approx(expected)
    # A number in the config wins over the model's auto floor.
    assert resolve_floor(0.3, reference) == 0.3
    assert resolve_floor("auto", {"features": {}}) == FALLBACK_REASON_FLOOR


def test_no_reason_or_protective_factor_within_the_floor(book) -> None:
    floor = book.floor
    rng = np.random.default_rng(2)
    contributions = rng.normal(0, 2 * floor, size=(500, len(NAMES)))
    frame = frame_of([[1.0, 0.0, 3.0, 10.0, 50.0, 2.0, "US"]] * 500)
    reasons = reason_codes(contributions, frame, book)
    for k in (1, 2, 3):
        values = reasons[f"reason_{k}_contribution"]
        assert (values.dropna() > floor).all()
        assert (values.isna() == reasons[f"reason_{k}"].isna()).all()
    protective = reasons["protective_contribution"]
    assert (protective.dropna() < -floor).all()
    assert (protective.isna() == reasons["protective_factor"].isna()).all()
    # The floor bites: some rows have fewer than three reasons, some none at all.
    assert reasons["reason_3"].isna().any() and reasons["reason_1"].isna().any()
    assert reasons["reason_1"].notna().any() and protective.notna().any()
    # "country is US" at 0.0008 log-odds was a customer's only reason; it is none now.
    tiny = np.zeros((1, len(NAMES)))
    tiny[0, NAMES.index("country")] = 0.0008
    alone = reason_codes(tiny, frame.iloc[:1], book).iloc[0]
    assert alone[["reason_1", "reason_1_family", "reason_1_direction"]].isna().all()


def test_protective_factor_is_the_most_negative_family(book) -> None:
    #              support cancel recency active revenue purchases country
    contributions = np.array(
        [
            [0.9, -0.2, -0.4, -0.3, 0.1, -0.25, 0.0],  # activity -0.7, value -0.15
            [0.5, 0.2, 0.0, 0.0, -0.1, -0.6, -0.3],  # value -0.7, profile -0.3
            [0.5, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0],  # nothing lowers risk
        ]
    )
    frame = frame_of(
        [
            [4.0, 0.0, 2.0, 25.0, 300.0, 12.0, "US"],
            [1.0, 2.0, 5.0, 20.0, 80.0, 20.0, "new_zealand"],
            [1.0, 2.0, 5.0, 20.0, 80.0, 20.0, "GB"],
        ]
    )
    reasons = reason_codes(contributions, frame, book)
    assert reasons["protective_contribution"].iloc[0] == pytest.approx(-0.7)
    # Worded by the family's most negative feature (recency, -0.4), without "only".
    assert reasons["protective_factor"].iloc[0] == "was last active 2 days ago"
    assert reasons["protective_contribution"].iloc[1] == pytest.approx(-0.7)
    assert reasons["protective_factor"].iloc[1] == "made 20 payments in the last year"
    assert pd.isna(reasons["protective_factor"].iloc[2])
    assert np.isnan(reasons["protective_contribution"].iloc[2])


def test_direction_of_the_top_reason(book) -> None:
    median = book.medians[NAMES.index("days_since_last_activity")]
    contributions = np.zeros((5, len(NAMES)))
    contributions[:4, NAMES.index("days_since_last_activity")] = 1.0
    contributions[4, NAMES.index("country")] = 1.0
    frame = frame_of(
        [
            [0.0, 0.0, median * 3, 5.0, 50.0, 2.0, "US"],
            [0.0, 0.0, median / 3, 5.0, 50.0, 2.0, "US"],
            [0.0, 0.0, np.nan, 5.0, 50.0, 2.0, "US"],
            [0.0, 0.0, median, 5.0, 50.0, 2.0, "US"],
            [0.0, 0.0, 1.0, 5.0, 50.0, 2.0, "new_zealand"],
        ]
    )
    reasons = reason_codes(contributions, frame, book)
    assert reasons["reason_1_family"].tolist() == ["activity"] * 4 + ["profile"]
    directions = reasons["reason_1_direction"].tolist()
    assert directions[:3] == ["high", "low", "none"]
    assert directions[3] in ("high", "low") and pd.isna(directions[4])
    assert reasons["reason_1"].iloc[2] == "has not been active in the last year"
    assert reasons["reason_1"].iloc[4] == "country is new zealand"


def test_counts_read_in_singular_and_plural(book) -> None:
    def words(name: str, value: float, raising: bool = True) -> str:
        return book.words(NAMES.index(name), value, raising)

    assert words("support_contacts_30d", 1.0) == "contacted support once this month"
    assert words("support_contacts_30d", 2.0) == "contacted support twice this month"
    assert words("support_contacts_30d", 3.0) == "contacted support 3 times this month"
    assert words("support_contacts_30d", 0.0) == "did not contact support this month"
    assert words("purchases_365d", 1.0) == "made 1 payment in the last year"
    assert words("purchases_365d", 4.0) == "made 4 payments in the last year"
    assert words("purchases_365d", 0.0) == "made no payments in the last year"
    assert words("days_since_last_activity", 0.0) == "was last active today"
    # Events are strictly before the cutoff (midnight): 0.4 days before is yesterday evening.
    assert words("days_since_last_activity", 0.4) == "was last active yesterday"
    assert words("days_since_last_activity", 1.0) == "was last active yesterday"
    assert words("days_since_last_activity", 12.2) == "was last active 13 days ago"
    assert words("days_since_last_activity", np.nan) == "has not been active in the last year"
    assert words("revenue_365d", 34.99) == "paid $34.99 in the last year"
    assert words("revenue_365d", 1234.5) == "paid $1,234.50 in the last year"
    assert words("revenue_365d", 0.0) == "paid nothing in the last year"
    assert replace(book, currency="EUR").words(4, 5.0) == "paid €5.00 in the last year"
    assert replace(book, currency="CHF").words(4, 5.0) == "paid CHF 5.00 in the last year"
    # "only" when a low value raises risk; never for a high value or a protective factor.
    active = NAMES.index("active_days_30d")
    low, high = book.medians[active] - 5, book.medians[active] + 5
    assert words("active_days_30d", low) == f"was active on only {low:.0f} days of the last 30"
    assert words("active_days_30d", high) == f"was active on {high:.0f} days of the last 30"
    assert words("active_days_30d", low, raising=False) == (
        f"was active on {low:.0f} days of the last 30"
    )
    assert words("active_days_30d", 1.0, raising=False) == "was active on 1 day of the last 30"
    assert words("country", "new_zealand") == "country is new zealand"
    assert words("country", None) == "country is unknown"


@pytest.mark.parametrize("raising", [True, False])
def test_no_sentence_leaks_a_name_or_a_wrong_plural(cfg, raising) -> None:
    names = list(cfg.features.builders)
    builders = available_builders()
    names = [name for name in names if name in builders and name != "profile_attributes"]
    names += list(cfg.features.profile_columns)
    book = ReasonBook.build(names, cfg, categorical=list(cfg.features.categorical_columns))
    values = [0.0, 0.2, 0.5, 1.0, 1.4, 2.0, 3.0, 12.7, 61.0, 365.0, -1.0, -2.5, np.nan]
    for j, name in enumerate(names):
        assert not re.search(r"[a-z]+_[a-z]+", book.wordings[j].label), name
        counts = "{n:" in book.wordings[j].reason  # never negative
        cases = [v for v in values if not (counts and v < 0)]
        cases = ["basic", "month_to_month", None] if name in book.categorical else cases
        for value in cases:
            sentence = book.words(j, value, raising)
            assert not BAD.search(sentence), (name, value, sentence)
            assert "no record of" not in sentence and sentence.strip() == sentence


def test_an_old_bundle_without_floor_or_medians_still_gives_reasons(cfg, tmp_path) -> None:
    train = training_frame(600, seed=3)
    spec = FeatureSpec.from_frame(train)
    matrix = spec.to_matrix(train)
    label = (train["support_contacts_30d"] + np.random.default_rng(4).normal(0, 0.5, 600)) > 0.7
    data = lgb.Dataset(matrix, label.astype(float), categorical_feature=spec.categorical_indices)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1}
    booster = lgb.train(params, data, num_boost_round=20)
    contributions = booster.predict(matrix, pred_contrib=True)[:, :-1]
    reference = build_reference(train, spec, np.zeros(len(train)), contributions)
    calibrator = Calibrator(method="identity", params={})
    new = ModelBundle.load(ModelBundle(booster, calibrator, spec, reference).save(tmp_path / "new"))
    floor = new.reference["reason_floor"]["auto"]
    assert floor > 0 and ReasonBook.for_bundle(new, cfg).floor == pytest.approx(floor)
    # A bundle saved before this change: no floor, no medians in its reference.json.
    old = json.loads(json.dumps(reference))
    del old["reason_floor"]
    for entry in old["features"].values():
        entry.pop("median", None)
        entry.pop("at_median", None)
    bundle = ModelBundle(booster, calibrator, spec, old)
    book = ReasonBook.for_bundle(bundle, cfg)
    assert book.floor == FALLBACK_REASON_FLOOR
    # Medians come back from the decile bins (a median of the data, up to the bins' quantile
    # interpolation), none for a categorical feature.
    for name in ("support_contacts_30d", "purchases_365d", "revenue_365d"):
        values, median = train[name], book.medians[NAMES.index(name)]
        assert (values < median).mean() <= 0.5 <= (values <= median).mean() + 0.01, name
        assert median == pytest.approx(typical_value(reference["features"][name])[0], rel=0.05)
    assert np.isnan(book.medians[NAMES.index("country")])
    reasons = reason_codes(contributions, train, book)
    assert reasons["reason_1"].notna().any()
    assert (reasons["reason_1_contribution"].dropna() > FALLBACK_REASON_FLOOR).all()
    assert set(reasons["reason_1_direction"].dropna()) <= {"high", "low", "none"}


def test_the_model_cards_say_which_floor_is_used(reference) -> None:
    from models.fitting import EvaluationReport
    from reporting.evaluation_card import METRIC_KEYS, report_markdown

    floor = reference["reason_floor"]
    assert floor_words("auto", reference).startswith(f"{floor['auto']:.4f} log-odds (auto: 0.05")
    assert floor_words(0.2, reference) == "0.2000 log-odds (set in scoring.reason_floor)"
    assert "fallback" in floor_words("auto", {"features": {}})
    metrics = dict.fromkeys(METRIC_KEYS, 0.5)
    split = {"description": "by time", "test_rows": 10, "test_churn_rate": 0.1}
    report = EvaluationReport(
        split=split,
        model=metrics,
        model_uncalibrated=metrics,
        calibrator="platt",
        leakage_flags=[],
    )
    importance = pd.DataFrame({"feature": [], "gain": [], "splits": []})
    assert f"{floor['auto']:.4f} log-odds" in report_markdown(report, importance, floor)
    assert "Reason floor" not in report_markdown(report, importance)
