"""Exact TreeSHAP contributions, computed once per distinct decision pattern of each tree.

A tree's TreeSHAP values for a row depend only on which branch the row takes at each of that
tree's splits. Within one tree, rows that fall in the same interval between the tree's own
thresholds on every feature it uses therefore get identical values. So, tree by tree, we group
rows by that pattern, ask LightGBM's native `pred_contrib` for one representative of each group
(`start_iteration=t, num_iteration=1`), and add the values to every row of the group. Small trees
see few patterns, so most of the exact work disappears; the sums equal LightGBM's whole-model
`pred_contrib` up to floating-point summation order (~1e-15).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

log = logging.getLogger(__name__)

# LightGBM treats |x| <= this as zero (kZeroThreshold in its C++ sources).
ZERO = 1e-35
# Above this many distinct keys per tree, the pattern key could overflow int64.
RADIX_LIMIT = 2**62


@dataclass(frozen=True)
class TreeSplits:
    """One tree's split features: sorted numeric thresholds, or None for a categorical feature."""

    features: dict[int, np.ndarray | None]


def tree_splits(booster: lgb.Booster) -> list[TreeSplits]:
    """Every tree's split features and thresholds, read once from the model dump."""
    trees = []
    for info in booster.dump_model()["tree_info"]:
        found: dict[int, set[float] | None] = {}
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            feature = node["split_feature"]
            if node["decision_type"] == "==":
                found[feature] = None
            elif found.get(feature, set()) is not None:
                found.setdefault(feature, set()).add(float(node["threshold"]))
            stack += [node["left_child"], node["right_child"]]
        trees.append(
            TreeSplits(
                {
                    feature: None if values is None else np.array(sorted(values))
                    for feature, values in sorted(found.items())
                }
            )
        )
    return trees


def _codes(column: np.ndarray, thresholds: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Per row an interval code that fixes every decision on this feature, and the code count.

    Numeric: the number of thresholds below the value (x <= t follows from it), with missing and
    zero set apart since LightGBM may route them by a default direction. Categorical: the code.
    """
    missing = np.isnan(column)
    if thresholds is None:
        codes = np.where(missing, -1, column).astype(np.int64) + 1
        return codes, int(codes.max(initial=0)) + 1
    codes = np.searchsorted(thresholds, np.where(missing, 0.0, column), side="left") + 2
    codes = np.where(np.abs(column) <= ZERO, 1, codes)
    codes = np.where(missing, 0, codes)
    return codes, len(thresholds) + 3


def pattern_groups(matrix: np.ndarray, splits: TreeSplits) -> tuple[np.ndarray, np.ndarray]:
    """First row of each distinct decision pattern in one tree, and each row's pattern."""
    key = np.zeros(len(matrix), dtype=np.int64)
    radix = 1
    columns = []
    for feature, thresholds in splits.features.items():
        codes, size = _codes(matrix[:, feature], thresholds)
        columns.append(codes)
        radix *= size
        if radix < RADIX_LIMIT:
            key = key * size + codes
    if radix >= RADIX_LIMIT:  # too many combinations for one integer: group on the code rows
        stacked = np.ascontiguousarray(np.column_stack(columns))
        key = stacked.view(np.dtype((np.void, stacked.itemsize * stacked.shape[1]))).ravel()
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def exact_contributions(
    booster: lgb.Booster,
    matrix: np.ndarray,
    trees: list[TreeSplits] | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, float]:
    """TreeSHAP contributions (features then bias) for every row, as `pred_contrib` gives them,
    and the share of (row, tree) pairs actually computed."""
    trees = trees if trees is not None else tree_splits(booster)
    rows, width = matrix.shape
    out = np.zeros((rows, width + 1))
    if rows == 0:
        return out, 1.0
    computed = 0
    for index, splits in enumerate(trees):
        bias_only = not splits.features
        first, inverse = (
            (np.zeros(1, dtype=np.int64), np.zeros(rows, dtype=np.int64))
            if (bias_only)
            else pattern_groups(matrix, splits)
        )
        values = booster.predict(
            matrix[first],
            pred_contrib=True,
            start_iteration=index,
            num_iteration=1,
            num_threads=num_threads,
        )
        # Only the tree's own features and the bias are non-zero: add just those columns.
        used = [*splits.features, width]
        out[:, used] += values[:, used][inverse]
        computed += len(first)
    return out, computed / (rows * max(len(trees), 1))
