"""Split a training matrix into train / validation / out-of-time test without a random row split.

With several labelled cutoffs the split is by time, with an embargo on label windows: the
latest labelled cutoff is the test; validation is the latest cutoff whose label window
`[cutoff, cutoff + horizon)` closes at or before the test cutoff; a cutoff trains if it comes
before validation and its window closes at or before the validation cutoff (`strict`) or, when
the data is too short for that, at or before the test cutoff (`test_only`, chosen in the config
and stated in the split's description). Cutoffs in the gaps are dropped and named. A customer
legitimately appears at several cutoffs (different times). With a single snapshot there is no
time to split on, so customers (never rows) are split, stratified on their label, and the split
says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.config import Training
from features.errors import ConfigError, DataContractError

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
    # Time split only: the label horizon, the embargo rule and the cutoffs it dropped.
    horizon_days: int | None = None
    embargo: str | None = None
    dropped: list[str] = field(default_factory=list)

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

    def tags(self) -> dict[str, str]:
        """Run tags for a time split: the embargo and the cutoffs it dropped (count and dates)."""
        if self.method != "time":
            return {}
        return {
            "split_embargo": f"{self.embargo}, {self.horizon_days}-day label windows",
            "split_dropped_count": str(len(self.dropped)),
            "split_dropped_cutoffs": ", ".join(self.dropped) or "none",
        }

    def summary(self) -> dict:
        """Row counts, churn rates and cutoffs per part, and what the embargo dropped."""
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        summary = {
            "method": self.method,
            "description": self.description,
            **{f"{name}_rows": len(frame) for name, frame in parts.items()},
            **{
                f"{name}_churn_rate": round(float(frame["churned"].mean()), 6)
                for name, frame in parts.items()
            },
            "cutoffs": self.cutoffs,
        }
        if self.method == "time":
            summary |= {
                "horizon_days": self.horizon_days,
                "embargo": self.embargo,
                "dropped_cutoffs": list(self.dropped),
            }
        return summary


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


EMBARGO_RULES = ("strict", "test_only")


@dataclass(frozen=True)
class Embargo:
    """Which labelled cutoffs test, validate and train under the embargo, and which are dropped."""

    test: pd.Timestamp
    valid: pd.Timestamp | None
    train: list[pd.Timestamp]
    dropped: list[pd.Timestamp]


def embargo_cutoffs(cutoffs: list, horizon_days: int, embargo: str = "strict") -> Embargo:
    """Assign sorted labelled cutoffs to test, validation, train or dropped.

    Test = the latest cutoff. Validation = the latest earlier cutoff whose label window
    `[cutoff, cutoff + horizon)` closes at or before the test cutoff. Train = the cutoffs before
    validation whose window closes at or before the validation cutoff (`strict`) or at or before
    the test cutoff (`test_only`: training windows may overlap validation's, never the test's).
    Every other cutoff is dropped.
    """
    if embargo not in EMBARGO_RULES:
        raise ConfigError(f"training.embargo: {embargo!r}; expected one of {list(EMBARGO_RULES)}")
    ordered = sorted(pd.Timestamp(c) for c in cutoffs)
    horizon = pd.Timedelta(days=horizon_days)
    test = ordered[-1]
    earlier = ordered[:-1]
    valid = max((c for c in earlier if c + horizon <= test), default=None)
    if valid is None:
        return Embargo(test, None, [], earlier)
    closes_by = valid if embargo == "strict" else test
    train = [c for c in earlier if c < valid and c + horizon <= closes_by]
    dropped = [c for c in earlier if c != valid and c not in train]
    return Embargo(test, valid, train, dropped)


def _days(cutoffs: list[pd.Timestamp]) -> str:
    return ", ".join(f"{c:%Y-%m-%d}" for c in cutoffs) or "none"


def _too_few_cutoffs(
    cutoffs: list[pd.Timestamp], chosen: Embargo, horizon_days: int, embargo: str
) -> ConfigError:
    """Why the embargo leaves no train or validation cutoff, and snapshot settings that work."""
    test, h = chosen.test, pd.Timedelta(days=horizon_days)
    missing = "validation" if chosen.valid is None else "training"
    example = [test - 2 * h, test - h, test]
    advice = (
        f"set snapshots.every_days >= snapshots.horizon_days ({horizon_days}) with "
        f"snapshots.count >= 3, or list snapshots.cutoffs with at least three cutoffs each "
        f"{horizon_days}+ days apart (e.g. {_days(example)}), or shorten snapshots.horizon_days"
    )
    relaxed = embargo_cutoffs(cutoffs, horizon_days, "test_only")
    if embargo == "strict" and relaxed.train:
        advice += (
            "; or, if the data is too short for that, training.embargo: test_only (training "
            "label windows may then overlap validation's, never the test's), which would train "
            f"on {_days(relaxed.train)}"
        )
    return ConfigError(
        f"time split: labelled cutoffs {_days(cutoffs)} with a {horizon_days}-day label "
        f"horizon leave no {missing} cutoff under the {embargo} embargo (a cutoff validates "
        f"only if its label window closes by the test cutoff {test:%Y-%m-%d}"
        + (
            f", and trains only if its window closes by the validation cutoff "
            f"{chosen.valid:%Y-%m-%d}"
            if chosen.valid is not None and embargo == "strict"
            else ""
        )
        + f"): {advice}. With churn.source: labels the horizon is snapshots.horizon_days too "
        "and the cutoffs are the labels' as_of dates"
    )


def time_split(frame: pd.DataFrame, horizon_days: int, embargo: str = "strict") -> MatrixSplit:
    """Out-of-time test, embargoed validation and training cutoffs (see `embargo_cutoffs`)."""
    labelled = labelled_rows(frame)
    cutoffs = sorted(pd.Timestamp(c) for c in labelled["cutoff"].unique())
    chosen = embargo_cutoffs(cutoffs, horizon_days, embargo)
    if chosen.valid is None or not chosen.train:
        raise _too_few_cutoffs(cutoffs, chosen, horizon_days, embargo)
    test = labelled[labelled["cutoff"] == chosen.test]
    valid = labelled[labelled["cutoff"] == chosen.valid]
    train = labelled[labelled["cutoff"].isin(chosen.train)]
    closes_by = "validation" if embargo == "strict" else "test"
    description = (
        f"time split with a {horizon_days}-day label embargo: test = {chosen.test:%Y-%m-%d} "
        f"(latest labelled cutoff, out of time), validation = {chosen.valid:%Y-%m-%d} (latest "
        f"cutoff whose label window closes by the test cutoff), train = {len(chosen.train)} "
        f"cutoff(s) whose label windows close by the {closes_by} cutoff; "
        + (
            f"dropped {len(chosen.dropped)} cutoff(s) whose label windows would reach into "
            f"validation or test: {_days(chosen.dropped)}"
            if chosen.dropped
            else "no cutoff dropped"
        )
    )
    if embargo == "test_only":
        description += (
            " (training.embargo test_only: training label windows may overlap validation's, "
            "so validation is out of time only for the test; the test is out of time for all)"
        )
    (log.warning if chosen.dropped or embargo != "strict" else log.info)("%s", description)
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
        horizon_days=horizon_days,
        embargo=embargo,
        dropped=[f"{c:%Y-%m-%d}" for c in chosen.dropped],
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
    frame: pd.DataFrame,
    seed: int = 0,
    valid_share: float = 0.2,
    test_share: float = 0.2,
    *,
    horizon_days: int,
    embargo: str = "strict",
) -> MatrixSplit:
    """Choose the split the data allows: by time when there are several labelled cutoffs.

    `horizon_days` is the label horizon (`snapshots.horizon_days`, also for given labels) the
    time split's embargo needs; `embargo` is `training.embargo`.
    """
    labelled = labelled_rows(frame)
    if labelled["cutoff"].nunique() >= 2:
        result = time_split(labelled, horizon_days, embargo)
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


def split_for_training(frame: pd.DataFrame, training: Training, horizon_days: int) -> MatrixSplit:
    """`split_matrix` with the training section's seed, shares and embargo."""
    return split_matrix(
        frame,
        training.seed,
        training.valid_share,
        training.test_share,
        horizon_days=horizon_days,
        embargo=training.embargo,
    )
