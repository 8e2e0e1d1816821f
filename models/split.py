"""Split a training matrix into train / validation / out-of-time test without a random row split.

With several labelled cutoffs the split is by time: latest cutoff = test, the one before =
validation, older = train. A customer legitimately appears at several cutoffs (different
times). With a single snapshot there is no time to split on, so customers (never rows) are
split, stratified on their label, and the split says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.errors import DataContractError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatrixSplit:
    """Three disjoint frames and how they were made."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    # "time", "given_split" or "customer_stratified"
    method: str
    description: str
    cutoffs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def cross_validated(self) -> bool:
        """True for a single snapshot: no later cutoff exists to validate on, so k-fold CV."""
        return self.method != "time"

    @property
    def fit_rows(self) -> pd.DataFrame:
        """Every row a model may learn from: train, plus validation when it is cross-validated."""
        if self.cross_validated:
            return pd.concat([self.train, self.valid])
        return self.train

    def summary(self) -> dict:
        """Row counts, churn rates and cutoffs per part (no customer ids)."""
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        return {
            "method": self.method,
            "description": self.description,
            **{f"{name}_rows": len(frame) for name, frame in parts.items()},
            **{
                f"{name}_churn_rate": round(float(frame["churned"].mean()), 6)
                for name, frame in parts.items()
            },
            "cutoffs": self.cutoffs,
        }


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label horizon has passed (churned is 0 or 1)."""
    missing = [column for column in ("customer_id", "cutoff", "churned") if column not in frame]
    if missing:
        raise DataContractError(
            [f"training matrix: missing column(s) {missing}; build it with build_training_matrix"]
        )
    labelled = frame[frame["churned"].notna()]
    if labelled.empty:
        raise DataContractError(
            [
                "training matrix: 0 labelled rows (churned is NaN everywhere); "
                "move snapshots.last_cutoff back so the label horizon has passed"
            ]
        )
    return labelled


def _cutoff_text(values: pd.Series) -> list[str]:
    return [pd.Timestamp(value).strftime("%Y-%m-%d") for value in sorted(values.unique())]


def _customer_split(
    frame: pd.DataFrame, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out `share` of customers, stratified on whether they ever churned."""
    per_customer = frame.groupby("customer_id", observed=True)["churned"].max()
    stratify = per_customer.to_numpy() if per_customer.nunique() > 1 else None
    if stratify is not None and min(np.bincount(stratify.astype(int))) < 2:
        stratify = None
    _kept, held = train_test_split(
        per_customer.index.to_numpy(), test_size=share, random_state=seed, stratify=stratify
    )
    held_mask = frame["customer_id"].isin(set(held))
    return frame[~held_mask], frame[held_mask]


def time_split(frame: pd.DataFrame, seed: int = 0, valid_share: float = 0.2) -> MatrixSplit:
    """Latest cutoff = test, the one before = validation, older = train."""
    labelled = labelled_rows(frame)
    cutoffs = sorted(labelled["cutoff"].unique())
    if len(cutoffs) < 2:
        raise DataContractError(
            [f"training matrix: {len(cutoffs)} labelled cutoff; a time split needs at least 2"]
        )
    test = labelled[labelled["cutoff"] == cutoffs[-1]]
    if len(cutoffs) == 2:
        # Only one older cutoff: validation must come from it, by customer so no one is in both.
        train, valid = _customer_split(
            labelled[labelled["cutoff"] == cutoffs[0]], valid_share, seed
        )
        description = (
            "2 labelled cutoffs: test = latest cutoff; train and validation split by customer "
            f"(stratified, {valid_share:.0%} of customers) within the earlier cutoff"
        )
    else:
        valid = labelled[labelled["cutoff"] == cutoffs[-2]]
        train = labelled[labelled["cutoff"] < cutoffs[-2]]
        description = (
            f"time split: train = {len(cutoffs) - 2} cutoff(s) before validation, "
            "validation = second latest cutoff, test = latest cutoff (out of time)"
        )
    return MatrixSplit(
        train=train,
        valid=valid,
        test=test,
        method="time",
        description=description,
        cutoffs={
            "train": _cutoff_text(train["cutoff"]),
            "valid": _cutoff_text(valid["cutoff"]),
            "test": _cutoff_text(test["cutoff"]),
        },
    )


def snapshot_split(
    frame: pd.DataFrame, seed: int = 0, valid_share: float = 0.2, test_share: float = 0.2
) -> MatrixSplit:
    """Single snapshot: honour a given `split` column, else split customers stratified."""
    labelled = labelled_rows(frame)
    cutoffs = {"all": _cutoff_text(labelled["cutoff"])}
    if "split" in labelled and labelled["split"].notna().any():
        values = set(labelled["split"].dropna().unique())
        unknown = values - {"train", "test"}
        if unknown or "test" not in values or "train" not in values:
            raise DataContractError(
                [
                    f"labels.split: values {sorted(values)}; expected both 'train' and 'test' "
                    "and nothing else"
                ]
            )
        given_train = labelled[labelled["split"] == "train"]
        test = labelled[labelled["split"] == "test"]
        train, valid = _customer_split(given_train, valid_share, seed)
        description = (
            "single snapshot with a given split: test = rows marked 'test'; tuning, early "
            "stopping and calibration by stratified k-fold cross-validation over the 'train' "
            f"rows (the {valid_share:.0%} validation share is one of its pools)"
        )
        method = "given_split"
    else:
        rest, test = _customer_split(labelled, test_share, seed)
        train, valid = _customer_split(rest, valid_share / (1 - test_share), seed + 1)
        description = (
            "single snapshot, no timestamps to split on: customers split at random, stratified "
            f"by label ({test_share:.0%} test); tuning, early stopping and calibration by "
            "stratified k-fold cross-validation over the rest; this is not an out-of-time test"
        )
        method = "customer_stratified"
    log.warning("%s", description)
    return MatrixSplit(train, valid, test, method, description, cutoffs)


def customer_folds(
    frame: pd.DataFrame, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of row positions (fit, held out), by customer, stratified on ever churning."""
    per_customer = frame.groupby("customer_id", observed=True)["churned"].max()
    churners = int(per_customer.sum())
    smallest = min(churners, len(per_customer) - churners)
    if smallest < n_folds:
        raise DataContractError(
            [
                f"training matrix: {len(per_customer)} customers, {churners} churners; "
                f"{n_folds}-fold cross-validation needs at least {n_folds} of each class: "
                "add customers or lower training.cv_folds"
            ]
        )
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    customers = per_customer.index.to_numpy()
    row_customer = frame["customer_id"].to_numpy()
    positions = []
    for _fit, held in folds.split(customers, per_customer.to_numpy().astype(int)):
        held_rows = np.isin(row_customer, customers[held])
        positions.append((np.flatnonzero(~held_rows), np.flatnonzero(held_rows)))
    return positions


def split_matrix(
    frame: pd.DataFrame, seed: int = 0, valid_share: float = 0.2, test_share: float = 0.2
) -> MatrixSplit:
    """Choose the split the data allows: by time when there are several labelled cutoffs."""
    labelled = labelled_rows(frame)
    if labelled["cutoff"].nunique() >= 2:
        result = time_split(labelled, seed, valid_share)
    else:
        result = snapshot_split(labelled, seed, valid_share, test_share)
    for name in ("train", "valid", "test"):
        part = getattr(result, name)
        if part.empty or part["churned"].nunique() < 2:
            raise DataContractError(
                [
                    f"training matrix: the {name} part has {len(part)} rows and "
                    f"{int(part['churned'].sum()) if len(part) else 0} churners; each part needs "
                    "both classes: add customers or cutoffs (snapshots.count)"
                ]
            )
    log.info("split (%s): %s", result.method, result.summary())
    return result
