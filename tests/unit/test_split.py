"""The split never mixes times at random, embargoes label windows, honours a given split, and
folds by customer."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.errors import ConfigError, DataContractError
from models.split import split_matrix
from tests.fixtures.matrix_fixtures import HORIZON_DAYS, synthetic_matrix


def test_time_split_puts_latest_cutoff_in_test_and_never_in_train() -> None:
    frame = synthetic_matrix(customers=300, cutoffs=5, seed=3)
    cutoffs = sorted(frame["cutoff"].unique())
    split = split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)
    assert split.method == "time"
    assert set(split.test["cutoff"]) == {cutoffs[-1]}
    assert set(split.valid["cutoff"]) == {cutoffs[-2]}
    assert set(split.train["cutoff"]) == set(cutoffs[:-2])
    assert split.train["cutoff"].max() < split.valid["cutoff"].min() < split.test["cutoff"].min()
    assert len(split.train) + len(split.valid) + len(split.test) == len(frame)


def test_time_split_drops_unlabelled_rows() -> None:
    frame = synthetic_matrix(customers=300, cutoffs=4, seed=3)
    latest = frame["cutoff"].max()
    frame.loc[frame["cutoff"] == latest, "churned"] = float("nan")
    split = split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)
    assert latest not in set(split.test["cutoff"])
    assert split.test["churned"].notna().all()


def test_two_cutoffs_are_refused_naming_settings_that_work() -> None:
    # Train and validation split by customer within one cutoff would share its label window.
    frame = synthetic_matrix(customers=400, cutoffs=2, seed=5)
    with pytest.raises(ConfigError, match=r"no training cutoff.*snapshots\.every_days"):
        split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)


def test_single_snapshot_honours_given_split_column() -> None:
    frame = synthetic_matrix(customers=1000, cutoffs=1, seed=7, split_column=True)
    split = split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)
    assert split.method == "given_split"
    given_test = frame[frame["split"] == "test"]
    assert sorted(split.test["customer_id"]) == sorted(given_test["customer_id"])
    assert (split.train["split"] == "train").all() and (split.valid["split"] == "train").all()
    assert not set(split.train["customer_id"]) & set(split.valid["customer_id"])
    # Stratified: validation churn rate close to the given train rows' rate.
    rate = frame.loc[frame["split"] == "train", "churned"].mean()
    assert split.valid["churned"].mean() == pytest.approx(rate, abs=0.02)


def test_single_snapshot_without_split_is_by_customer_and_says_so() -> None:
    frame = synthetic_matrix(customers=1000, cutoffs=1, seed=7)
    split = split_matrix(frame, seed=1, valid_share=0.2, test_share=0.2, horizon_days=HORIZON_DAYS)
    assert split.method == "customer_stratified"
    assert "not an out-of-time test" in split.description
    parts = [set(p["customer_id"]) for p in (split.train, split.valid, split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(split.test) == pytest.approx(0.2 * len(frame), abs=2)
    assert split.test["churned"].mean() == pytest.approx(frame["churned"].mean(), abs=0.01)


def test_split_with_bad_split_values_names_the_problem() -> None:
    frame = synthetic_matrix(customers=200, cutoffs=1, seed=7, split_column=True)
    frame["split"] = pd.array(["holdout"] * len(frame), dtype="str")
    with pytest.raises(DataContractError, match=r"labels\.split"):
        split_matrix(frame, horizon_days=HORIZON_DAYS)


@pytest.fixture(scope="module")
def snapshot_split():
    frame = synthetic_matrix(customers=1200, cutoffs=1, seed=5, split_column=True)
    return split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)


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


# --- The label-window embargo -------------------------------------------------------------


def _frame_at(cutoffs: list) -> pd.DataFrame:
    """Four customers, two churners, at each cutoff: every part of any split has both classes."""
    rows = [
        {"customer_id": f"c{i}", "cutoff": pd.Timestamp(c, tz="UTC"), "churned": float(i % 2)}
        for c in cutoffs
        for i in range(4)
    ]
    frame = pd.DataFrame(rows)
    frame["customer_id"] = frame["customer_id"].astype("str")
    frame["x"] = np.arange(len(frame), dtype="float64")
    return frame


def _days(values) -> list[str]:
    return sorted(f"{pd.Timestamp(v):%Y-%m-%d}" for v in set(values))


def _overlaps(start_a, start_b, horizon_days: int) -> bool:
    """Whether the label windows [a, a + h) and [b, b + h) share a moment."""
    h = pd.Timedelta(days=horizon_days)
    a, b = pd.Timestamp(start_a), pd.Timestamp(start_b)
    return a < b + h and b < a + h


MONTHLY_1997 = [date(1997, month, 1) for month in range(4, 13)] + [date(1998, 1, 1)]


def test_cdnow_cutoffs_with_a_182_day_horizon_strict_embargo_names_what_works() -> None:
    # 1997-07-01 + 182 days = 1997-12-30 <= 1998-01-01 validates; a training window would have
    # to close by 1997-07-01, i.e. start by 1996-12-31, before the data.
    with pytest.raises(ConfigError) as error:
        split_matrix(_frame_at(MONTHLY_1997), horizon_days=182)
    message = str(error.value)
    assert "no training cutoff" in message and "1997-07-01" in message
    assert "snapshots.every_days >= snapshots.horizon_days (182)" in message
    assert "training.embargo: test_only" in message


def test_cdnow_cutoffs_with_a_182_day_horizon_test_only_embargo() -> None:
    split = split_matrix(_frame_at(MONTHLY_1997), horizon_days=182, embargo="test_only")
    # 1997-06-01 + 182 = 1997-11-30 closes by the test cutoff; 1997-08-01 + 182 = 1998-01-30
    # would reach into the test window, so it cannot validate.
    assert split.cutoffs == {
        "train": ["1997-04-01", "1997-05-01", "1997-06-01"],
        "valid": ["1997-07-01"],
        "test": ["1998-01-01"],
    }
    dropped = ["1997-08-01", "1997-09-01", "1997-10-01", "1997-11-01", "1997-12-01"]
    assert split.dropped == dropped
    summary = split.summary()
    assert summary["dropped_cutoffs"] == dropped and summary["horizon_days"] == 182
    assert summary["embargo"] == "test_only"
    assert "dropped 5 cutoff(s)" in split.description and "1997-12-01" in split.description
    assert "overlap validation's" in split.description


def test_strict_embargo_by_hand_with_a_window_closing_exactly_at_validation() -> None:
    cutoffs = [date(2024, month, 1) for month in range(1, 7)]
    split = split_matrix(_frame_at(cutoffs), horizon_days=60)
    # Test 06-01. Validation: 04-01 + 60 = 05-31 <= 06-01 (05-01 + 60 = 06-30 is too late).
    # Train: 02-01 + 60 = 04-01 (2024 is a leap year) closes exactly at validation and trains;
    # 03-01 + 60 = 04-30 does not.
    assert split.cutoffs == {
        "train": ["2024-01-01", "2024-02-01"],
        "valid": ["2024-04-01"],
        "test": ["2024-06-01"],
    }
    assert split.dropped == ["2024-03-01", "2024-05-01"]
    assert split.embargo == "strict"


def test_demo_spacing_equal_to_the_horizon_drops_nothing() -> None:
    frame = synthetic_matrix(customers=300, cutoffs=8, seed=3)
    split = split_matrix(frame, seed=1, horizon_days=HORIZON_DAYS)
    assert split.dropped == [] and "no cutoff dropped" in split.description
    assert len(split.cutoffs["train"]) == 6


def _generated_cutoffs(every_days: int, count: int, last: date) -> list[date]:
    """`snapshots.every_days` / `count` ending at `last_cutoff`, as features.snapshots makes."""
    return [last - timedelta(days=every_days * k) for k in range(count)]


SNAPSHOT_SETTINGS = st.one_of(
    st.builds(
        _generated_cutoffs,
        every_days=st.integers(1, 120),
        count=st.integers(2, 14),
        last=st.dates(date(2020, 1, 1), date(2026, 1, 1)),
    ),
    st.lists(st.dates(date(2020, 1, 1), date(2022, 12, 31)), min_size=2, max_size=12, unique=True),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cutoffs=SNAPSHOT_SETTINGS,
    horizon_days=st.integers(1, 400),
    embargo=st.sampled_from(["strict", "test_only"]),
)
def test_no_label_window_reaches_a_later_part(cutoffs, horizon_days, embargo) -> None:
    """For any snapshot settings: no train or validation label window overlaps the test's, no
    training window overlaps validation's (strict), and the dropped cutoffs are exactly the
    ineligible ones; or the split refuses, and then no eligible arrangement existed."""
    frame = _frame_at(cutoffs)
    h = timedelta(days=horizon_days)
    ordered = sorted(cutoffs)
    test = ordered[-1]
    # Eligibility computed here, independently of models.split.
    can_validate = [c for c in ordered[:-1] if c + h <= test]
    valid = max(can_validate, default=None)
    closes_by = valid if embargo == "strict" else test
    can_train = [] if valid is None else [c for c in ordered if c < valid and c + h <= closes_by]
    if valid is None or not can_train:
        with pytest.raises(ConfigError, match="snapshots"):
            split_matrix(frame, horizon_days=horizon_days, embargo=embargo)
        return
    split = split_matrix(frame, horizon_days=horizon_days, embargo=embargo)
    train, valid_part, test_part = (
        split.train["cutoff"],
        split.valid["cutoff"],
        split.test["cutoff"],
    )
    assert _days(test_part) == _days([test])
    for start in [*train.unique(), *valid_part.unique()]:
        assert not _overlaps(start, pd.Timestamp(test, tz="UTC"), horizon_days)
    if embargo == "strict":
        for start in train.unique():
            for other in valid_part.unique():
                assert not _overlaps(start, other, horizon_days)
    assert _days(valid_part) == _days([valid])
    assert _days(train) == _days(can_train)
    ineligible = [c for c in ordered[:-1] if c != valid and c not in can_train]
    assert split.dropped == _days(ineligible)
    assert split.summary()["dropped_cutoffs"] == _days(ineligible)
    # Every row is in exactly one part or at a dropped cutoff.
    kept = len(split.train) + len(split.valid) + len(split.test)
    assert kept + 4 * len(ineligible) == len(frame)


def test_dropped_cutoffs_reach_the_markdown_card_and_the_model_card() -> None:
    from models.fitting import EvaluationReport
    from reporting.evaluation_card import report_markdown
    from reporting.sections import ReportInputs, model_card_section
    from tests.fixtures.configs import quick_config

    split = split_matrix(_frame_at(MONTHLY_1997), horizon_days=182, embargo="test_only")
    from reporting.evaluation_card import METRIC_KEYS

    metrics = dict.fromkeys(METRIC_KEYS, 0.5)
    report = EvaluationReport(split.summary(), metrics, metrics, "platt", [])
    importance = pd.DataFrame({"feature": [], "gain": [], "splits": []})
    markdown = report_markdown(report, importance)
    assert (
        "Dropped cutoffs (test_only embargo, 182-day label windows): 5: 1997-08-01, 1997-09-01, "
        "1997-10-01, 1997-11-01, 1997-12-01." in markdown
    )
    card = model_card_section(ReportInputs(pd.DataFrame(), quick_config(), evaluation=report))
    html = "".join(card.parts)
    assert "dropped cutoffs (label embargo)" in html and "5: 1997-08-01" in html
