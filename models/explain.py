"""Reason codes: exact TreeSHAP contributions grouped by signal family, written in words.

A family's contribution is the sum of its features' contributions (so the groups still add up to
the raw score with the bias). The top families that push risk *up* become the reasons, each worded
by the template of its strongest feature with the customer's value filled in. Ties break by family
order, then feature order, so the same input always gives the same reasons.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import Config
from features.registry import FAMILY_MODULES, feature_family, feature_reason

log = logging.getLogger(__name__)

TOP_REASONS = 3
# Family order for tie-breaking: the registry's module order, then anything else alphabetically.
FAMILY_ORDER = tuple(module.rsplit(".", 1)[-1] for module in FAMILY_MODULES)


@dataclass(frozen=True)
class ReasonBook:
    """Per feature: its family index and its wording; per family: its name. Built once per job."""

    names: list[str]
    families: list[str]
    feature_family_index: np.ndarray  # (features,) index into `families`
    templates: list[str]
    categorical: frozenset[str]

    @classmethod
    def build(cls, names: list[str], cfg: Config, categorical: list[str] | None = None):
        """Look up each feature's family and reason template in the registry."""
        profile = cfg.features.profile_columns
        by_feature = [feature_family(name, profile) for name in names]
        present = set(by_feature)
        families = [f for f in FAMILY_ORDER if f in present]
        families += sorted(present - set(FAMILY_ORDER))
        index = np.array([families.index(f) for f in by_feature], dtype=np.int64)
        templates = [feature_reason(name, profile) for name in names]
        return cls(names, families, index, templates, frozenset(categorical or []))

    def family_matrix(self) -> np.ndarray:
        """One-hot (features x families): contributions @ this = per-family sums."""
        onehot = np.zeros((len(self.names), len(self.families)))
        onehot[np.arange(len(self.names)), self.feature_family_index] = 1.0
        return onehot

    def words(self, feature: int, value: object) -> str:
        """The marketer's sentence for one feature at one value."""
        name = self.names[feature]
        template = self.templates[feature]
        if name in self.categorical or isinstance(value, str):
            return f"{template} is {value}" if _present(value) else f"{template} is unknown"
        if not _present(value):
            # "days since" features are missing when the event never happened.
            return f"no record of {name.replace('_', ' ')}"
        if "{value" not in template:
            return template
        try:
            return template.format(value=float(value))
        except (ValueError, TypeError):
            return f"{template} ({value})"


def _present(value: object) -> bool:
    if value is None:
        return False
    try:
        return not math.isnan(value)  # type: ignore[arg-type]
    except TypeError:
        return not pd.isna(value)


def top_families(
    contributions: np.ndarray, book: ReasonBook, top: int = TOP_REASONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the `top` family indices by positive summed contribution (-1 when fewer push risk
    up), their sums, and each chosen family's strongest feature index (-1 where none)."""
    n = contributions.shape[0]
    sums = contributions @ book.family_matrix()  # (rows, families)
    # Stable sort on the negated sums: equal sums keep family order.
    order = np.argsort(-sums, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(sums, order, axis=1)
    positive = chosen > 0
    families = np.where(positive, order, -1)
    values = np.where(positive, chosen, np.nan)
    # Strongest feature inside each family: argmax over that family's columns (first on ties).
    strongest = np.full((n, len(book.families)), -1, dtype=np.int64)
    for f in range(len(book.families)):
        columns = np.flatnonzero(book.feature_family_index == f)
        strongest[:, f] = columns[np.argmax(contributions[:, columns], axis=1)]
    features = np.where(positive, np.take_along_axis(strongest, np.maximum(order, 0), axis=1), -1)
    if families.shape[1] < top:  # fewer families than reasons: pad with "no reason"
        pad = top - families.shape[1]
        families = np.pad(families, ((0, 0), (0, pad)), constant_values=-1)
        features = np.pad(features, ((0, 0), (0, pad)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, pad)), constant_values=np.nan)
    return families, values, features


def reason_codes(
    contributions: np.ndarray, frame: pd.DataFrame, book: ReasonBook, top: int = TOP_REASONS
) -> pd.DataFrame:
    """reason_1..top (words), reason_k_contribution (family sums) and reason_1_family per row.

    `contributions` holds the features' columns only (no bias), in `book.names` order; `frame`
    holds the same rows' feature values, which fill the templates.
    """
    families, values, features = top_families(contributions, book, top)
    out: dict[str, object] = {}
    for k in range(top):
        out[f"reason_{k + 1}"] = _sentences(features[:, k], frame, book)
        out[f"reason_{k + 1}_contribution"] = values[:, k]
    names = np.asarray([*book.families, None], dtype=object)
    # -1 indexes the trailing None: no family pushed risk up.
    out["reason_1_family"] = names[families[:, 0]]
    result = pd.DataFrame(out, index=frame.index)
    ordered = [f"reason_{k + 1}" for k in range(top)]
    ordered += [f"reason_{k + 1}_contribution" for k in range(top)]
    return result[[*ordered, "reason_1_family"]]


def _sentences(features: np.ndarray, frame: pd.DataFrame, book: ReasonBook) -> np.ndarray:
    """Words for each row's chosen feature; each distinct (feature, value) is formatted once."""
    sentences = np.full(len(features), None, dtype=object)
    for j in np.unique(features[features >= 0]):
        rows = np.flatnonzero(features == j)
        column = frame[book.names[j]].iloc[rows]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            text = column.astype("object").where(column.notna(), None).to_numpy()
            cache = {value: book.words(j, value) for value in pd.unique(text)}
            sentences[rows] = [cache[value] for value in text]
            continue
        numbers = column.to_numpy(dtype=np.float64)
        uniques, inverse = np.unique(numbers, return_inverse=True)
        words = np.asarray([book.words(j, value) for value in uniques], dtype=object)
        sentences[rows] = words[inverse]
    return sentences
