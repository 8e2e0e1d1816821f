"""The drift reference saved with a model: training distributions binned for PSI.

Numeric features get decile bin edges from the training rows plus a missing bin; categorical
features get their level shares plus a missing share; the calibrated score gets decile bins.
Scoring bins today's values with the same edges and compares with `psi`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.spec import FeatureSpec

BINS = 10
# Floor for empty bins so PSI stays finite.
FLOOR = 1e-4


def _numeric_reference(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if finite.size else []
    edges = [float(edge) for edge in edges]
    return {"kind": "numeric", "edges": edges, "proportions": numeric_proportions(values, edges)}


def numeric_proportions(values: np.ndarray, edges: list[float]) -> list[float]:
    """Shares per bin: len(edges)+1 bins split at `edges` (right-closed), then a missing bin."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), values[finite], side="left"), minlength=len(edges) + 1
    ).astype(np.float64)
    counts = np.append(counts, (~finite).sum())
    return [float(share) for share in counts / max(len(values), 1)]


def categorical_proportions(values: pd.Series, levels: list[str]) -> list[float]:
    """Shares per level in `levels` order, then other/unseen, then missing."""
    text = values.astype("str").where(values.notna())
    counts = text.value_counts()
    known = [float(counts.get(level, 0)) for level in levels]
    missing = float(values.isna().sum())
    other = float(len(values)) - sum(known) - missing
    return [share / max(len(values), 1) for share in (*known, other, missing)]


def build_reference(
    train: pd.DataFrame,
    spec: FeatureSpec,
    scores: np.ndarray,
    contributions: np.ndarray | None = None,
) -> dict:
    """Binned distributions of every feature and of the calibrated score, and the mean exact
    contribution of each feature (rows x features, no bias), on the reference rows.

    The reference rows are the latest training cutoff (`reference_rows`): a night is compared
    with one cutoff like it, not with every cutoff pooled, whose calendar-driven counts never
    look like any single night."""
    features = {}
    for name in spec.names:
        if spec.dtypes[name] == "category":
            levels = spec.categories[name]
            features[name] = {
                "kind": "categorical",
                "levels": levels,
                "proportions": categorical_proportions(train[name], levels),
            }
        else:
            features[name] = _numeric_reference(train[name].to_numpy(dtype=np.float64))
    reference = {
        "bins": BINS,
        "rows": len(train),
        "features": features,
        "score": _numeric_reference(np.asarray(scores, dtype=np.float64)),
    }
    if "cutoff" in train and len(train):
        reference["cutoff"] = f"{pd.Timestamp(train['cutoff'].max()):%Y-%m-%d}"
    if contributions is not None:
        means = np.asarray(contributions, dtype=np.float64).mean(axis=0)
        reference["contributions"] = {
            name: float(mean) for name, mean in zip(spec.names, means, strict=True)
        }
    return reference


def reference_rows(train: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest training cutoff (all rows of a single snapshot)."""
    return train[train["cutoff"] == train["cutoff"].max()]


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two binned distributions."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(entry: dict, values: pd.Series | np.ndarray) -> float:
    """PSI of today's values against one reference entry (feature or score)."""
    if entry["kind"] == "categorical":
        actual = categorical_proportions(pd.Series(values), entry["levels"])
    else:
        actual = numeric_proportions(np.asarray(values, dtype=np.float64), entry["edges"])
    return psi(entry["proportions"], actual)
