"""Scoring a chunk, as pure steps: features in, the scores table's rows out.

Both engines call these: the local job loops over chunks, Spark runs `score_and_explain` inside
`mapInPandas`. The checks that guard a night (population, feature spec) and the per-tier totals
live here too, so nothing needs to import a job module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.code_fingerprint import code_changes, feature_code
from features.contract import EXPLAINED, SCORES
from features.errors import ChurnError, DataContractError
from features.matrix import feature_columns
from models.bundle import ModelBundle
from models.contributions import TreeSplits, exact_contributions
from models.decisions import TIERS
from models.explain import ReasonBook, reason_codes
from models.tiers import ValueSource, customer_value

log = logging.getLogger(__name__)

SCORE_COLUMNS = SCORES.names


class ModelMismatchError(ChurnError):
    """The model expects features other than those this code and config build."""


@dataclass(frozen=True)
class Fingerprints:
    """What the current code and config build, to compare with what a model was trained on."""

    features: str  # hash of the config sections that decide the features
    config: str  # hash of the whole config


# ---------- checks before anything is scored ----------


def check_population(matrix: pd.DataFrame, expected: int | None, as_of: pd.Timestamp) -> None:
    """Fail on an empty day, duplicate customers, or a row count off the active population."""
    day = f"{as_of:%Y-%m-%d}"
    if matrix.empty:
        raise DataContractError(
            [
                f"scoring: no customer is active at {day}; pick an --as-of inside the data "
                "(after the first signups and no later than the day after the last event)"
            ]
        )
    duplicates = int(matrix["customer_id"].duplicated().sum())
    if duplicates:
        raise DataContractError([f"scoring: {duplicates} customer(s) appear twice at {day}"])
    if expected is not None and expected != len(matrix):
        raise DataContractError(
            [f"scoring: {len(matrix)} feature rows but {expected} customers active at {day}"]
        )


def spec_problems(
    bundle: ModelBundle, names: list[str], dtypes: dict[str, str], built: Fingerprints
) -> list[str]:
    """What differs between the model's feature spec and what this code and config build."""
    spec = bundle.spec
    problems = []
    missing = [name for name in spec.names if name not in names]
    extra = [name for name in names if name not in spec.names]
    if missing:
        problems.append(f"the model needs {len(missing)} feature(s) not built: {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} built feature(s) the model does not know: {extra[:5]}")
    kinds = [
        f"{name} ({spec.dtypes[name]} in the model, {dtypes[name]} now)"
        for name in spec.names
        if name in dtypes and spec.dtypes[name] != dtypes[name]
    ]
    if kinds:
        problems.append(f"{len(kinds)} feature type(s) differ: {kinds[:5]}")
    if not missing and not extra and list(names) != list(spec.names):
        problems.append("features are built in another order than the model's")
    wanted = spec.extra.get("features_fingerprint") if spec.extra else None
    if wanted:
        if wanted != built.features:
            problems.append(
                f"feature config fingerprint {wanted} in the model, {built.features} now "
                "(signals, churn, snapshots or features differ)"
            )
    elif spec.config_fingerprint and spec.config_fingerprint != built.config:
        problems.append(
            f"config fingerprint {spec.config_fingerprint} in the model, {built.config} now "
            "(score with the config the model was trained with)"
        )
    return problems


def check_feature_code(bundle: ModelBundle, uri: str, allow: bool = False) -> dict:
    """Refuse a model whose feature code changed since training, naming the changed builders,
    unless `allow` (--allow-code-change); return what the manifest records. A model trained
    before code fingerprints were recorded scores with a warning."""
    recorded = bundle.spec.extra.get("feature_code") if bundle.spec.extra else None
    if not recorded:
        log.warning(
            "model %s records no feature-code fingerprint (trained before they were recorded); "
            "its feature code cannot be compared: retrain to record it",
            uri,
        )
        return {"status": "unchecked"}
    changed = code_changes(recorded, feature_code(recorded.get("builders", {})))
    if not changed:
        return {"status": "same"}
    message = f"feature code changed since training: {', '.join(changed)}"
    if not allow:
        raise ModelMismatchError(
            f"model {uri}: {message}; retrain (churn train), or score anyway with "
            "--allow-code-change"
        )
    log.warning("model %s: %s; scoring anyway (--allow-code-change)", uri, message)
    return {"status": "changed", "changed": changed, "allowed": True}


def built_dtypes(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Each built feature's kind in the spec's terms: category or float64."""
    return {
        name: "category" if isinstance(frame[name].dtype, pd.CategoricalDtype) else "float64"
        for name in names
    }


def check_spec(bundle: ModelBundle, matrix: pd.DataFrame, built: Fingerprints, uri: str) -> None:
    """Refuse a model whose feature spec differs from what is built; warn on unseen levels."""
    names = feature_columns(matrix)
    problems = spec_problems(bundle, names, built_dtypes(matrix, names), built)
    if problems:
        raise ModelMismatchError(
            f"model {uri} does not match the features this code and config build: "
            + "; ".join(problems)
            + "; retrain with this config (churn train) or score with the model's config"
        )
    for name, levels in bundle.spec.categories.items():
        column = matrix[name]
        unseen = column.notna() & ~column.astype("str").isin(levels)
        if unseen.any():
            examples = sorted(column[unseen].astype("str").unique())[:3]
            log.warning(
                "%s: %d row(s) with levels unseen in training (e.g. %s) are scored as missing",
                name,
                int(unseen.sum()),
                examples,
            )


# ---------- scoring one chunk ----------


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive row slices of at most `size` rows."""
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


@dataclass(frozen=True)
class Predicted:
    """A chunk's model inputs and outputs, between prediction and explanation."""

    chunk: pd.DataFrame
    matrix: np.ndarray
    raw: np.ndarray
    probability: np.ndarray


def predict_chunk(chunk: pd.DataFrame, bundle: ModelBundle, threads: int) -> Predicted:
    """Raw score and calibrated probability for one chunk of the feature matrix."""
    matrix = bundle.spec.to_matrix(chunk)
    raw = bundle.booster.predict(matrix, raw_score=True, num_threads=threads)
    return Predicted(chunk, matrix, raw, bundle.calibrator.apply(raw))


@dataclass(frozen=True)
class Explained:
    """A chunk's exact contributions (rows x features, no bias) and its reason codes."""

    contributions: np.ndarray
    reasons: pd.DataFrame


def explain_chunk(
    predicted: Predicted,
    bundle: ModelBundle,
    book: ReasonBook,
    threads: int,
    trees: list[TreeSplits] | None,
) -> Explained:
    """Reason codes from exact TreeSHAP contributions: LightGBM's native C++ TreeSHAP, once per
    distinct decision pattern of each tree when `trees` is given, else once per row."""
    if trees is None:
        contributions = bundle.booster.predict(
            predicted.matrix, pred_contrib=True, num_threads=threads
        )
    else:
        contributions = exact_contributions(bundle.booster, predicted.matrix, trees, threads)[0]
    raw = predicted.raw
    gap = float(np.max(np.abs(contributions.sum(axis=1) - raw))) if len(raw) else 0.0
    if gap > 1e-6:  # exactness is the contract; never ship reasons that do not add up
        raise ChurnError(f"internal: contributions differ from the raw score by {gap:.2e}")
    features = contributions[:, :-1]
    return Explained(features, reason_codes(features, predicted.chunk, book))


def explained_rows(
    predicted: Predicted, reasons: pd.DataFrame, value: np.ndarray, model_version: str
) -> pd.DataFrame:
    """The chunk's rows before the day's decisions (`features.contract.EXPLAINED`): who, when,
    the probability, the value and the reasons, with the top reason's family and direction."""
    chunk = predicted.chunk
    rows = pd.DataFrame(
        {
            "customer_id": chunk["customer_id"].to_numpy(),
            "as_of": chunk["cutoff"].to_numpy(),
            "churn_probability": predicted.probability,
            "value": value,
        }
    )
    rows = pd.concat([rows, reasons.reset_index(drop=True)], axis=1)
    rows["model_version"] = model_version
    return rows[EXPLAINED.names]


def score_and_explain(
    chunk: pd.DataFrame,
    bundle: ModelBundle,
    book: ReasonBook,
    value_source: ValueSource,  # models.tiers.check_value_source
    model_version: str,
    threads: int,
    trees: list[TreeSplits] | None = None,
) -> pd.DataFrame:
    """The explained rows for one chunk of the feature matrix (pure: features in, rows out)."""
    predicted = predict_chunk(chunk, bundle, threads)
    explained = explain_chunk(predicted, bundle, book, threads, trees)
    value = customer_value(chunk, value_source, predicted.probability)
    return explained_rows(predicted, explained.reasons, value, model_version)


# ---------- totals per tier ----------


@dataclass(frozen=True)
class TierTotals:
    """One tier's customers (and how many are held out as control), revenue at risk (sum of
    expected loss), value, and the expected profit of acting on its treated customers."""

    customers: int = 0
    control: int = 0
    revenue_at_risk: float = 0.0
    value: float = 0.0
    expected_profit: float = 0.0

    def __add__(self, other: TierTotals) -> TierTotals:
        return TierTotals(*(getattr(self, name) + getattr(other, name) for name in TIER_TOTALS))


TIER_TOTALS = ("customers", "control", "revenue_at_risk", "value", "expected_profit")


@dataclass
class TierSummary:
    """Totals per tier, added chunk by chunk."""

    tiers: dict[str, TierTotals] = field(
        default_factory=lambda: {tier: TierTotals() for tier in TIERS}
    )

    def add(self, rows: pd.DataFrame) -> None:
        # Days scored before decisions (no control, no expected profit) still add up.
        control = rows.get("control", pd.Series(False, index=rows.index)).fillna(False)
        control = control.astype(bool)
        profit = rows.get("expected_profit", pd.Series(0.0, index=rows.index))
        grouped = (
            rows.assign(control=control, treated_profit=profit.where(~control, 0.0))
            .groupby("tier", observed=True)
            .agg(
                customers=("customer_id", "size"),
                control=("control", "sum"),
                revenue_at_risk=("expected_loss", "sum"),
                value=("value", "sum"),
                expected_profit=("treated_profit", "sum"),
            )
        )
        for tier in grouped.index:
            part = grouped.loc[tier]
            self.tiers[tier] = self.tiers[tier] + TierTotals(
                int(part["customers"]),
                int(part["control"]),
                *(float(part[name]) for name in TIER_TOTALS[2:]),
            )

    def to_dict(self) -> dict[str, dict]:
        return {
            tier: {name: getattr(totals, name) for name in TIER_TOTALS}
            for tier, totals in self.tiers.items()
        }
