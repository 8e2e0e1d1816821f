"""The training run's evaluation card: a short markdown report and the gain table behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from models.bundle import ModelBundle
from models.explain import floor_words
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


def report_markdown(
    report: EvaluationReport, importance: pd.DataFrame, reason_floor: dict | None = None
) -> str:
    """A short human-readable evaluation report; `reason_floor` is the model's stored auto
    reason floor (reference.json), left out for models without one."""
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
    if report.decisions is not None:
        lines += decisions_lines(report.decisions)
    if report.value is not None:
        lines += value_lines(report.value)
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
    if reason_floor is not None:
        floor = floor_words("auto", {"reason_floor": reason_floor})
        lines += ["", f"Reason floor (`scoring.reason_floor: auto`): {floor}."]
    lines += ["", "## Top features by gain", "", "| feature | gain | splits |", "|---|---|---|"]
    for row in importance.head(15).itertuples():
        lines.append(f"| {row.feature} | {row.gain:.1f} | {row.splits} |")
    return "\n".join(lines) + "\n"


def decisions_lines(decisions: dict) -> list[str]:
    """The policy's realised profit on the test rows against contacting everyone or nobody, per
    tier, and the profit curve's EMPC (models.profit)."""
    money = decisions["currency"]
    lines = [
        "",
        f"Decisions on the test rows (realised profit in {money}; high tier: "
        f"{decisions['high_action']}, medium: {decisions['medium_action']}):",
        "",
        "| policy | profit |",
        "|---|---|",
        f"| budget (high within the budget, medium beyond) | {decisions['budget']:,.0f} |",
        f"| contact everyone | {decisions['contact_everyone']:,.0f} |",
        f"| contact nobody | {decisions['contact_nobody']:,.0f} |",
        "",
        "| tier | customers | churners | expected profit | realised profit |",
        "|---|---|---|---|---|",
    ]
    for tier, row in decisions["tiers"].items():
        lines.append(
            f"| {tier} | {row['customers']} | {row['churners']} | "
            f"{row['expected_profit']:,.0f} | {row['realised_profit']:,.0f} |"
        )
    lines += [
        "",
        f"EMPC (expected maximum profit per customer): {decisions['empc_per_customer']:.3f} "
        f"{money}.",
    ]
    return lines


def value_lines(value: dict) -> list[str]:
    """How well each value source ranks the revenue customers actually paid after the test
    cutoff (models.value): Spearman and the share of that revenue held by the top 10% and 20%."""
    lines = [
        "",
        f"Value against actual revenue ({value['actual']}: {value['actual_total']:,.2f} over "
        f"{value['rows']} rows, mean {value['actual_mean']:,.2f}"
        + (
            f"; mean expected {value['predicted_mean']:,.2f})"
            if value.get("predicted_mean") is not None
            else ")"
        )
        + ":",
        "",
        "| value source | Spearman | top-10% share | top-20% share |",
        "|---|---|---|---|",
    ]
    for source, metrics in value["sources"].items():
        cells = " | ".join(
            "–" if metrics[key] is None else f"{metrics[key]:.3f}"
            for key in ("spearman", "top10_share", "top20_share")
        )
        lines.append(f"| {source} | {cells} |")
    return lines
