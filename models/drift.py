"""Drift guard: population stability of each feature and of the score against the training
reference stored with the model (binning and PSI from `models.reference`).

Counts accumulate chunk by chunk, so the guard never needs all scores in memory at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ChurnError
from models.reference import categorical_proportions, numeric_proportions, psi

log = logging.getLogger(__name__)

SCORE = "__score__"


class DriftError(ChurnError):
    """Today's population differs from the training population beyond the fail level."""


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


def drift_summary(
    acc: DriftAccumulator, warn: float, fail: float, exempt: list[str] | tuple = ()
) -> dict:
    """PSI per feature and for the score; inputs at or above the warn and fail levels (an
    exempt feature above the fail level only warns)."""
    features = {name: round(acc.psi_of(name), 6) for name in acc.counts if name != SCORE}
    summary = {
        "warn_psi": warn,
        "fail_psi": fail,
        "features": dict(sorted(features.items(), key=lambda item: (-item[1], item[0]))),
        "score": round(acc.psi_of(SCORE), 6) if SCORE in acc.counts else None,
    }
    everything = {
        **features,
        **({"score": summary["score"]} if summary["score"] is not None else {}),
    }
    summary["warned"] = sorted(
        k for k, v in everything.items() if v >= warn and (v < fail or k in exempt)
    )
    summary["failed"] = sorted(k for k, v in everything.items() if v >= fail and k not in exempt)
    summary["exempt"] = sorted(exempt)
    summary["status"] = "fail" if summary["failed"] else ("warn" if summary["warned"] else "ok")
    return summary


def enforce(summary: dict, allow_drift: bool) -> None:
    """Log warnings; raise DriftError above the fail level unless drift is allowed."""
    if summary["warned"]:
        log.warning("drift (PSI >= %s): %s", summary["warn_psi"], _listing(summary, "warned"))
    if not summary["failed"]:
        return
    listing = _listing(summary, "failed")
    if allow_drift:
        log.warning("drift above the fail level, allowed by --allow-drift: %s", listing)
        return
    raise DriftError(
        f"drift: PSI >= {summary['fail_psi']} against the model's training reference for "
        f"{len(summary['failed'])} input(s): {listing}; check the data feed, retrain, "
        "or rerun with --allow-drift"
    )


def _listing(summary: dict, key: str) -> str:
    values = {**summary["features"], "score": summary["score"]}
    names = sorted(summary[key], key=lambda name: -values[name])
    shown = ", ".join(f"{name} ({values[name]:.2f})" for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
