"""The training run's evaluation card: a short markdown report and the gain table behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from models.bundle import ModelBundle
from models.fitting import EvaluationReport

METRIC_KEYS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_top10",
    "capture_top10",
    "lift_top20",
    "capture_top20",
)


def feature_importance(bundle: ModelBundle) -> pd.DataFrame:
    """Total gain and split count per feature, largest gain first."""
    booster = bundle.booster
    return (
        pd.DataFrame(
            {
                "feature": booster.feature_name(),
                "gain": booster.feature_importance("gain"),
                "splits": booster.feature_importance("split"),
            }
        )
        .sort_values("gain", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def _embargo_lines(split: dict) -> list[str]:
    """What a time split's label embargo dropped (nothing for older records or single snapshots)."""
    if "dropped_cutoffs" not in split:
        return []
    dropped = split["dropped_cutoffs"]
    named = f": {', '.join(dropped)}" if dropped else ""
    return [
        f"Dropped cutoffs ({split.get('embargo')} embargo, {split.get('horizon_days')}-day label "
        f"windows): {len(dropped)}{named}."
    ]


def report_markdown(report: EvaluationReport, importance: pd.DataFrame) -> str:
    """A short human-readable evaluation report."""
    columns = {
        name: metrics
        for name, metrics in (
            ("model", report.model),
            ("model_uncalibrated", report.model_uncalibrated),
            ("baseline", report.baseline),
        )
        if metrics is not None
    }
    split = report.split
    lines = [
        "# Churn model evaluation",
        "",
        f"Split: {split['description']}.",
        *_embargo_lines(split),
        f"Test rows: {split['test_rows']}, churn rate "
        f"{split['test_churn_rate']:.3f}; ECE over {report.ece_bins}.",
        "",
        "| metric | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for key in METRIC_KEYS:
        cells = " | ".join(f"{metrics[key]:.4f}" for metrics in columns.values())
        lines.append(f"| {key} | {cells} |")
    lines += [
        "",
        "Precision per risk tier (calibrated probability, the scoring job's thresholds):",
        "",
        "| risk tier | customers | churners | precision | mean predicted |",
        "|---|---|---|---|---|",
    ]
    for row in report.risk_tiers:
        precision, mean = (
            "–" if row[key] is None else f"{row[key]:.4f}"
            for key in ("precision", "mean_probability")
        )
        lines.append(
            f"| {row['tier']} | {row['customers']} | {row['churners']} | {precision} | {mean} |"
        )
    if report.baseline is not None:
        lines += [
            "",
            f"Baseline: logistic regression on {', '.join(report.baseline['features'])}.",
        ]
    if report.warning:
        lines += ["", f"**Warning:** {report.warning}"]
    if report.leakage_flags:
        lines += ["", "**Possible leakage** (single-feature AUC above threshold):"]
        lines += [f"- {flag['feature']}: AUC {flag['auc']}" for flag in report.leakage_flags]
    if report.gate is not None:
        lines += ["", f"Promotion gate: {report.gate['status']} — {report.gate['reason']}"]
    lines += ["", "## Top features by gain", "", "| feature | gain | splits |", "|---|---|---|"]
    for row in importance.head(15).itertuples():
        lines.append(f"| {row.feature} | {row.gain:.1f} | {row.splits} |")
    return "\n".join(lines) + "\n"
