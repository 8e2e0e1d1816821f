"""Drift guard: population stability of each feature and of the score against the training
reference stored with the model (binning and PSI from `models.reference`).

Counts accumulate chunk by chunk, so the guard never needs all scores in memory at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import DriftError
from models.reference import categorical_proportions, numeric_proportions, psi

log = logging.getLogger(__name__)

SCORE = "__score__"


def _counts(entry: dict, values: pd.Series | np.ndarray) -> np.ndarray:
    """Bin counts of `values` in the reference entry's bins."""
    if entry["kind"] == "categorical":
        shares = categorical_proportions(pd.Series(values), entry["levels"])
    else:
        shares = numeric_proportions(np.asarray(values, dtype=np.float64), entry["edges"])
    return np.asarray(shares) * len(values)


@dataclass
class DriftAccumulator:
    """Bin counts per feature and for the score, added chunk by chunk."""

    reference: dict
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def _add(self, key: str, entry: dict, values) -> None:
        counts = _counts(entry, values)
        self.counts[key] = self.counts.get(key, 0) + counts
        self.rows[key] = self.rows.get(key, 0) + len(values)

    def add_features(self, frame: pd.DataFrame) -> None:
        """Count one chunk of feature rows (features the reference knows)."""
        for name, entry in self.reference["features"].items():
            if name in frame.columns:
                self._add(name, entry, frame[name])

    def add_scores(self, scores: np.ndarray) -> None:
        """Count one chunk of calibrated scores."""
        self._add(SCORE, self.reference["score"], scores)

    def psi_of(self, key: str) -> float:
        entry = self.reference["score"] if key == SCORE else self.reference["features"][key]
        actual = self.counts[key] / max(self.rows[key], 1)
        return psi(entry["proportions"], list(actual))


@dataclass(frozen=True)
class DriftSummary:
    """PSI per feature and for the score against the training reference, and the verdict."""

    warn_psi: float
    fail_psi: float
    features: dict[str, float]  # largest PSI first
    score: float | None
    warned: list[str]  # at or above the warn level (or exempt above the fail level)
    failed: list[str]  # at or above the fail level, not exempt
    exempt: list[str]
    allowed: bool = False  # failed, but scored anyway with --allow-drift

    @property
    def status(self) -> str:
        return "fail" if self.failed else ("warn" if self.warned else "ok")

    def psi(self, name: str) -> float:
        return self.score if name == "score" else self.features[name]

    def to_dict(self) -> dict:
        """The manifest's `drift` entry."""
        return {
            "warn_psi": self.warn_psi,
            "fail_psi": self.fail_psi,
            "features": self.features,
            "score": self.score,
            "warned": self.warned,
            "failed": self.failed,
            "exempt": self.exempt,
            "status": self.status,
            "allowed": self.allowed,
        }

    @classmethod
    def from_dict(cls, entry: dict) -> DriftSummary:
        fields = ("warn_psi", "fail_psi", "features", "score", "warned", "failed", "exempt")
        return cls(**{key: entry[key] for key in fields}, allowed=bool(entry.get("allowed")))


def drift_summary(
    acc: DriftAccumulator, warn: float, fail: float, exempt: list[str] | tuple = ()
) -> DriftSummary:
    """PSI per feature and for the score; inputs at or above the warn and fail levels (an
    exempt feature above the fail level only warns)."""
    features = {name: round(acc.psi_of(name), 6) for name in acc.counts if name != SCORE}
    score = round(acc.psi_of(SCORE), 6) if SCORE in acc.counts else None
    everything = {**features, **({"score": score} if score is not None else {})}
    return DriftSummary(
        warn_psi=warn,
        fail_psi=fail,
        features=dict(sorted(features.items(), key=lambda item: (-item[1], item[0]))),
        score=score,
        warned=sorted(k for k, v in everything.items() if v >= warn and (v < fail or k in exempt)),
        failed=sorted(k for k, v in everything.items() if v >= fail and k not in exempt),
        exempt=sorted(exempt),
    )


def enforce(summary: DriftSummary, allow_drift: bool) -> None:
    """Log warnings; raise DriftError above the fail level unless drift is allowed."""
    if summary.warned:
        log.warning("drift (PSI >= %s): %s", summary.warn_psi, _listing(summary, summary.warned))
    if not summary.failed:
        return
    listing = _listing(summary, summary.failed)
    if allow_drift:
        log.warning("drift above the fail level, allowed by --allow-drift: %s", listing)
        return
    raise DriftError(
        f"drift: PSI >= {summary.fail_psi} against the model's training reference for "
        f"{len(summary.failed)} input(s): {listing}; check the data feed, retrain, "
        "or rerun with --allow-drift"
    )


def _listing(summary: DriftSummary, names: list[str]) -> str:
    names = sorted(names, key=lambda name: -summary.psi(name))
    shown = ", ".join(f"{name} ({summary.psi(name):.2f})" for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
