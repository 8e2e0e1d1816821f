"""Drift guard: tonight's score and contributions against the model's reference (the latest
training cutoff, binned and averaged in `models.reference`) and against the previous night.

Counts and sums accumulate chunk by chunk, so the guard never needs all rows in memory at once.
Broken feeds are not drift: `features.feed` catches them before anything is scored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields

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
    """Bin counts per feature and for the score, and summed contributions, chunk by chunk."""

    reference: dict
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    contribution_sum: np.ndarray | None = None
    contribution_rows: int = 0

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

    def add_contributions(self, contributions: np.ndarray) -> None:
        """Sum one chunk's exact contributions per feature (rows x features, no bias)."""
        total = contributions.sum(axis=0)
        self.contribution_sum = (
            total if self.contribution_sum is None else self.contribution_sum + total
        )
        self.contribution_rows += len(contributions)

    def proportions(self, key: str) -> list[float]:
        return [float(v) for v in self.counts[key] / max(self.rows[key], 1)]

    def psi_of(self, key: str) -> float:
        entry = self.reference["score"] if key == SCORE else self.reference["features"][key]
        return psi(entry["proportions"], self.proportions(key))

    def mean_contributions(self, names: list[str]) -> dict[str, float]:
        """Mean contribution (log-odds) per feature today; empty if none were added."""
        if self.contribution_sum is None or not self.contribution_rows:
            return {}
        means = self.contribution_sum / self.contribution_rows
        return {name: float(value) for name, value in zip(names, means, strict=True)}


@dataclass(frozen=True)
class DriftLevels:
    """PSI levels for the score, and how far a feature's mean contribution may move."""

    warn_psi: float
    fail_psi: float
    max_shift: float  # log-odds
    exempt: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftSummary:
    """How tonight differs from the model's reference and from the previous scored night.

    What counts is what moves the model: the score's PSI and each feature's shift in mean
    contribution (log-odds). A feature whose values move but whose contribution does not (a
    calendar-driven count the model hardly uses) is shown by its PSI and never warns. Against
    the reference (the latest training cutoff) a score PSI at the warn level warns; at the fail
    level, or a feature shifted by `max_shift`, it also recommends retraining. Against the
    previous night of the same model the same fail levels fail the job: a steady world moves
    little in a day, a broken one jumps.
    """

    reference: str  # what tonight is compared with, e.g. "training cutoff 2026-04-01"
    warn_psi: float
    fail_psi: float
    max_shift: float
    features: dict[str, float]  # PSI per feature against the reference, largest first
    score: float | None  # PSI of the calibrated score against the reference
    shifts: dict[str, float]  # mean contribution today - at the reference, largest |.| first
    warned: list[str]  # inputs whose movement against the reference matters
    retrain_recommended: bool
    previous_night: str | None  # the night compared with, if any
    night_score: float | None  # score PSI against the previous night
    night_shifts: dict[str, float]
    failed: list[str]  # inputs that jumped beyond the fail level since the previous night
    exempt: list[str]
    score_proportions: list[float]  # tonight's score bins, for tomorrow's comparison
    mean_contributions: dict[str, float]  # tonight's, for tomorrow's comparison
    allowed: bool = False  # failed, but scored anyway with --allow-drift

    @property
    def status(self) -> str:
        return "fail" if self.failed else ("warn" if self.warned else "ok")

    def to_dict(self) -> dict:
        """The manifest's `drift` entry."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "status": self.status}

    @classmethod
    def from_dict(cls, entry: dict) -> DriftSummary:
        """A manifest's entry; manifests written before contributions counted lack some keys."""
        defaults = {
            "reference": "training rows",
            "max_shift": 0.0,
            "shifts": {},
            "retrain_recommended": False,
            "previous_night": None,
            "night_score": None,
            "night_shifts": {},
            "score_proportions": [],
            "mean_contributions": {},
            "allowed": False,
        }
        names = [f.name for f in fields(cls)]
        return cls(**{name: entry.get(name, defaults.get(name)) for name in names})


def _largest_first(values: dict[str, float]) -> dict[str, float]:
    return dict(sorted(values.items(), key=lambda item: (-abs(item[1]), item[0])))


def drift_summary(
    acc: DriftAccumulator,
    names: list[str],
    levels: DriftLevels,
    previous: tuple[str, DriftSummary] | None = None,
) -> DriftSummary:
    """Tonight against the model's reference and, given one, the previous night's summary."""
    features = {name: round(acc.psi_of(name), 6) for name in acc.counts if name != SCORE}
    score = round(acc.psi_of(SCORE), 6) if SCORE in acc.counts else None
    means = acc.mean_contributions(names)
    reference_means = acc.reference.get("contributions", {})
    shifts = {
        name: round(value - reference_means[name], 6)
        for name, value in means.items()
        if name in reference_means and name not in levels.exempt
    }
    moved = sorted(name for name, shift in shifts.items() if abs(shift) >= levels.max_shift)
    warned = [*moved, *(["score"] if score is not None and score >= levels.warn_psi else [])]
    retrain = bool(moved) or (score is not None and score >= levels.fail_psi)
    night, night_score, night_shifts, failed = None, None, {}, []
    comparable = previous is not None and len(previous[1].score_proportions) == len(
        acc.counts.get(SCORE, ())
    )
    if previous is not None and comparable:
        night, before = previous
        night_score = round(psi(before.score_proportions, acc.proportions(SCORE)), 6)
        night_shifts = {
            name: round(value - before.mean_contributions[name], 6)
            for name, value in means.items()
            if name in before.mean_contributions and name not in levels.exempt
        }
        failed = sorted(n for n, v in night_shifts.items() if abs(v) >= levels.max_shift)
        if night_score >= levels.fail_psi:
            failed.append("score")
    cutoff = acc.reference.get("cutoff")
    return DriftSummary(
        reference=f"training cutoff {cutoff}" if cutoff else "training rows",
        warn_psi=levels.warn_psi,
        fail_psi=levels.fail_psi,
        max_shift=levels.max_shift,
        features=dict(sorted(features.items(), key=lambda item: (-item[1], item[0]))),
        score=score,
        shifts=_largest_first(shifts),
        warned=warned,
        retrain_recommended=bool(retrain),
        previous_night=night,
        night_score=night_score,
        night_shifts=_largest_first(night_shifts),
        failed=failed,
        exempt=sorted(levels.exempt),
        score_proportions=acc.proportions(SCORE) if SCORE in acc.counts else [],
        mean_contributions=means,
    )


def enforce(summary: DriftSummary, allow_drift: bool) -> None:
    """Log what moved; raise DriftError on a jump since the previous night unless allowed."""
    if summary.warned:
        log.warning(
            "population drift against the %s: %s%s",
            summary.reference,
            _listing(summary.warned, summary.score, summary.shifts),
            "; retrain recommended" if summary.retrain_recommended else "",
        )
    if not summary.failed:
        return
    listing = _listing(summary.failed, summary.night_score, summary.night_shifts)
    if allow_drift:
        log.warning("drift since %s, allowed by --allow-drift: %s", summary.previous_night, listing)
        return
    raise DriftError(
        f"drift: since the night of {summary.previous_night} the model's inputs jumped beyond "
        f"the fail level (score PSI {summary.fail_psi}, contribution {summary.max_shift} "
        f"log-odds): {listing}; check the data feed, retrain, or rerun with --allow-drift"
    )


def _listing(names: list[str], score: float | None, shifts: dict[str, float]) -> str:
    def size(name: str) -> float:
        return (score or 0.0) if name == "score" else abs(shifts[name])

    def text(name: str) -> str:
        if name == "score":
            return f"score (PSI {score:.2f})"
        return f"{name} ({shifts[name]:+.2f} log-odds)"

    ordered = sorted(names, key=lambda name: -size(name))
    shown = ", ".join(text(name) for name in ordered[:10])
    return shown + (f" and {len(ordered) - 10} more" if len(ordered) > 10 else "")
