"""The split never mixes times at random, honours a given split, and folds by customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataContractError
from models.split import split_matrix
from tests.fixtures.matrix_fixtures import synthetic_matrix


def test_time_split_puts_latest_cutoff_in_test_and_never_in_train() -> None:
    frame = synthetic_matrix(customers=300, cutoffs=5, seed=3)
    cutoffs = sorted(frame["cutoff"].unique())
    split = split_matrix(frame, seed=1)
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
    split = split_matrix(frame, seed=1)
    assert latest not in set(split.test["cutoff"])
    assert split.test["churned"].notna().all()


def test_two_cutoffs_split_validation_by_customer() -> None:
    frame = synthetic_matrix(customers=400, cutoffs=2, seed=5)
    split = split_matrix(frame, seed=1)
    assert set(split.test["cutoff"]) == {frame["cutoff"].max()}
    assert not set(split.train["customer_id"]) & set(split.valid["customer_id"])


def test_single_snapshot_honours_given_split_column() -> None:
    frame = synthetic_matrix(customers=1000, cutoffs=1, seed=7, split_column=True)
    split = split_matrix(frame, seed=1)
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
    split = split_matrix(frame, seed=1, valid_share=0.2, test_share=0.2)
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
        split_matrix(frame)


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
