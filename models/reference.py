"""The drift reference saved with a model: training distributions binned for PSI.

Numeric features get decile bin edges from the training rows plus a missing bin, and their
median; categorical features get their level shares plus a missing share; the calibrated score
gets decile bins. Scoring bins today's values with the same edges and compares with `psi`. The
reference also holds the mean contribution of each feature and the auto reason floor
(`reason_floor`), which reason codes use (`models.explain`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.spec import FeatureSpec

BINS = 10
# Floor for empty bins so PSI stays finite.
FLOOR = 1e-4
# Directions of a value against a feature's median (models.explain).
HIGH, LOW = "high", "low"
# The auto reason floor (`scoring.reason_floor: auto`) is this share of the standard deviation
# of the raw score (log-odds) over the reference rows. Reasons explain why customers' risks
# differ, and that standard deviation is how much they differ under this model: a family moving
# a customer by a twentieth of it would move a normally spread ranking by two percentiles at
# the middle (0.05 x the normal density 0.4), not something to tell a marketer. It scales with
# the model (a weak model's small contributions can still be reasons, a strong model's small
# ones are not) and needs no family grouping. On the synthetic demo it is about 0.04 log-odds:
# the profile family (plan, and country, which is pure noise there) falls from 12-14% of the
# customers' first reasons to under 0.3%, while everyone in the top risk quartile keeps one.
REASON_FLOOR_SHARE = 0.05


def _numeric_reference(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if finite.size else []
    edges = [float(edge) for edge in edges]
    entry = {"kind": "numeric", "edges": edges, "proportions": numeric_proportions(values, edges)}
    if finite.size:
        # The typical value for a reason's direction ("high"/"low"); a value equal to it is on
        # the side where most of its ties are (mid-rank): 0 with 60% zeros is "low".
        median = float(np.median(finite))
        mid_rank = (finite < median).mean() + (finite == median).mean() / 2
        entry["median"] = median
        entry["at_median"] = "high" if mid_rank > 0.5 else "low"
    return entry


def typical_value(entry: dict) -> tuple[float, str]:
    """A numeric reference entry's median and the direction of a value equal to it; NaN when
    unknown (categorical or empty). References written before the median was stored get it from
    their decile bins: the upper edge of the bin where half the finite values are reached."""
    if entry.get("kind") != "numeric":
        return float("nan"), LOW
    if "median" in entry:
        return float(entry["median"]), entry.get("at_median", LOW)
    edges, shares = entry.get("edges", []), np.asarray(entry.get("proportions", [])[:-1])
    if not edges or shares.sum() <= 0:
        return float("nan"), LOW
    cumulative = np.cumsum(shares) / shares.sum()
    bin_ = min(int(np.searchsorted(cumulative, 0.5 - 1e-9)), len(edges) - 1)
    below = cumulative[bin_ - 1] if bin_ > 0 else 0.0
    # Mid-rank of the bin standing in for that of the median itself.
    return float(edges[bin_]), HIGH if (below + cumulative[bin_]) / 2 > 0.5 else LOW


def reason_floor(contributions: np.ndarray) -> dict | None:
    """The auto reason floor from the reference rows' contributions (rows x features, no bias):
    `REASON_FLOOR_SHARE` x the standard deviation of their sums (the raw score less its bias)."""
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.ndim != 2 or contributions.shape[0] < 2:
        return None
    spread = float(np.std(contributions.sum(axis=1)))
    return {
        "auto": REASON_FLOOR_SHARE * spread,
        "rule": f"{REASON_FLOOR_SHARE} x standard deviation of the raw score (log-odds)",
        "raw_score_std": spread,
        "rows": int(contributions.shape[0]),
    }


def auto_reason_floor(reference: dict) -> float | None:
    """The auto reason floor stored with a model (None for models trained before it was)."""
    stored = reference.get("reason_floor")
    return float(stored["auto"]) if isinstance(stored, dict) and "auto" in stored else None


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
    """Binned distributions (and medians) of every feature and of the calibrated score, the mean
    exact contribution of each feature (rows x features, no bias) and the auto reason floor
    derived from them, on the reference rows.

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
    score = np.asarray(scores, dtype=np.float64)
    reference = {
        "bins": BINS,
        "rows": len(train),
        "features": features,
        # The mean calibrated probability: a typical customer's churn per label horizon, which
        # prices a retained subscriber (models.tiers.SubscriptionValue).
        "score": {
            **_numeric_reference(score),
            "mean": float(np.nanmean(score)) if len(score) else None,
        },
    }
    if "cutoff" in train and len(train):
        reference["cutoff"] = f"{pd.Timestamp(train['cutoff'].max()):%Y-%m-%d}"
    if contributions is not None:
        means = np.asarray(contributions, dtype=np.float64).mean(axis=0)
        reference["contributions"] = {
            name: float(mean) for name, mean in zip(spec.names, means, strict=True)
        }
        floor = reason_floor(contributions)
        if floor is not None:
            reference["reason_floor"] = floor
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
