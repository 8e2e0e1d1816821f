"""The report's sections drawn from scores, the evaluation record and retention: summary, model
card, tiers and revenue at risk, retention by month and cohort.

Pure: frames and the evaluation record in, `reporting.html` sections out. The sections that need
the model's explanations, and `build_report` assembling the page, are in `reporting.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.config import Config
from models.bundle import ModelBundle
from models.explain import floor_words
from models.fitting import EvaluationReport
from reporting import figures, numbers, retention
from reporting import html as page
from reporting.words import churn_definition, currency_of, input_label, money, money_format

METRICS = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("log_loss", "log loss"),
    ("brier", "Brier score"),
    ("ece", "calibration error (ECE)"),
    ("lift_top10", "lift, top 10%"),
    ("capture_top10", "capture, top 10%"),
    ("lift_top20", "lift, top 20%"),
    ("capture_top20", "capture, top 20%"),
)


@dataclass
class ReportInputs:
    """Everything the report is drawn from; all but `scores` and `cfg` may be missing."""

    scores: pd.DataFrame
    cfg: Config
    model_label: str = ""
    bundle: ModelBundle | None = None
    evaluation: EvaluationReport | None = None
    features: pd.DataFrame | None = None  # the matrix at the scores' as_of
    test_rows: pd.DataFrame | None = None  # labelled rows of the out-of-time test cutoff
    lifetimes: pd.DataFrame | None = None
    revenue: pd.DataFrame | None = None
    until: pd.Timestamp | None = None
    notes: list[str] = field(default_factory=list)
    manifest: dict | None = None  # the day's manifest.json
    nights: list[dict] = field(default_factory=list)  # manifests of the nights up to the day
    ledger: pd.DataFrame | None = None  # the backtest ledger's nights up to the day
    ledger_hint: str = ""  # how to produce a ledger, when there is none
    profiles: pd.DataFrame | None = None  # customer_id and the categorical profile columns


def _percent(value: object) -> str:
    return f"{float(value):.1%}"


def embargo_text(split: dict) -> str:
    """The cutoffs a time split dropped because their label windows reach into a later part."""
    dropped = split.get("dropped_cutoffs") or []
    rule = f"{split.get('embargo')} embargo, {split.get('horizon_days')}-day label windows"
    if not dropped:
        return f"none ({rule})"
    return f"{len(dropped)}: {', '.join(dropped)} ({rule})"


def summary_section(inputs: ReportInputs, as_of: pd.Timestamp) -> page.Section:
    """Headline numbers."""
    tiers = numbers.tier_summary(inputs.scores)
    currency = currency_of(inputs.cfg)
    scores = inputs.scores
    treated = scores["expected_profit"].where(~scores["control"].astype(bool), 0.0).sum()
    section = page.Section("summary", "Summary")
    section.add(
        page.cards(
            [
                ("scored on", f"{as_of:%Y-%m-%d}"),
                ("customers scored", f"{len(inputs.scores):,}"),
                ("mean churn probability", _percent(inputs.scores["churn_probability"].mean())),
                ("high tier: act now", f"{tiers.at['high', 'customers']:,}"),
                (
                    "revenue at risk, high",
                    money(tiers.at["high", "expected_revenue_at_risk"], currency),
                ),
                ("revenue at risk, all", money(inputs.scores["expected_loss"].sum(), currency)),
                ("expected profit of the actions", money(treated, currency)),
            ]
        )
    )
    drift = (inputs.manifest or {}).get("drift", {})
    if drift.get("status") == "fail" and drift.get("allowed"):
        section.add(page.paragraph(allowed_drift_words(drift, inputs.cfg), "alert"))
    for note in inputs.notes:
        section.add(page.paragraph(note, "note"))
    return section


def model_card_section(inputs: ReportInputs) -> page.Section:
    """Data window, cutoffs, horizon, out-of-time metrics, calibration, lift and capture."""
    cfg = inputs.cfg
    section = page.Section(
        "model",
        "Model card",
        "How the model was trained and how it did on the out-of-time test: the latest cutoff "
        "whose outcome is known, never seen in training.",
    )
    evaluation = inputs.evaluation
    facts = {
        "model": inputs.model_label or "—",
        "label horizon": f"{cfg.snapshots.horizon_days} days after each cutoff",
        "feature lookback": f"{cfg.snapshots.lookback_days} days before each cutoff",
        "churn definition": churn_definition(cfg),
    }
    if evaluation:
        split = evaluation.split
        data = evaluation.data or {}
        cutoffs = split.get("cutoffs", {})
        if data.get("date_range"):
            facts["data window (cutoffs)"] = " to ".join(data["date_range"])
        for part in ("train", "valid", "test"):
            if cutoffs.get(part):
                facts[f"{part} cutoffs"] = ", ".join(cutoffs[part])
        if "dropped_cutoffs" in split:
            facts["dropped cutoffs (label embargo)"] = embargo_text(split)
        facts["split"] = split.get("description", "—")
        facts["test rows"] = f"{split.get('test_rows', 0):,} (churn rate " + (
            f"{split.get('test_churn_rate', float('nan')):.1%})"
        )
        facts["calibration"] = evaluation.calibrator or "—"
        if evaluation.gate:
            facts["promotion gate"] = f"{evaluation.gate.get('status')}"
    if inputs.bundle is not None:
        facts["reason floor"] = floor_words(cfg.scoring.reason_floor, inputs.bundle.reference)
    fact_table = pd.DataFrame({"value": list(facts.values())}, index=list(facts))
    section.add(page.table(fact_table, index_label="", table_id="model-facts", css="facts"))
    if evaluation:
        columns = {"model": evaluation.model}
        if evaluation.baseline is not None:
            columns["baseline (logistic regression)"] = evaluation.baseline
        metric_table = pd.DataFrame(
            {
                label: [column.get(key, np.nan) for key, _ in METRICS]
                for label, column in columns.items()
            },
            index=[name for _, name in METRICS],
        )
        section.add(
            page.heading("Out-of-time test: model against the baseline"),
            page.table(
                metric_table,
                {c: (lambda v: f"{float(v):.4f}") for c in metric_table.columns},
                table_id="metrics",
                index_label="metric",
            ),
            page.paragraph(
                "Higher is better for AUCs, lift and capture; lower for log loss, Brier and ECE.",
                "note",
            ),
        )
    else:
        section.add(page.paragraph("No evaluation record was found for this model.", "note"))
    if inputs.bundle is not None and inputs.test_rows is not None:
        label = inputs.test_rows["churned"].to_numpy()
        probability = inputs.bundle.predict_proba(inputs.test_rows)
        section.add(
            page.grid(
                page.image(
                    figures.calibration_curve(numbers.calibration_table(label, probability)),
                    "calibration curve",
                    "Calibration on the out-of-time test: points on the diagonal mean the "
                    "probabilities can be read as churn rates.",
                ),
                page.image(
                    figures.capture_chart(numbers.lift_table(label, probability)),
                    "capture chart",
                    "Contacting the riskiest customers first: the share of churners caught.",
                ),
                page.image(
                    figures.lift_chart(numbers.lift_table(label, probability)),
                    "lift chart",
                    "Churn rate among those contacted, over the base rate.",
                ),
            )
        )
    return section


def allowed_drift_words(drift: dict, cfg: Config) -> str:
    """The sentence for a night whose drift check failed and that was published anyway."""
    inputs = ", ".join(input_label(name, cfg) for name in drift.get("failed", []))
    inputs = inputs or "the churn score"
    night = drift.get("previous_night") or "the previous night"
    return (
        f"Drift failed against {night} ({inputs}) and this day was published anyway with "
        "--allow-drift: check the data feed before acting on these scores."
    )


def tier_value_section(scores: pd.DataFrame, currency: str) -> page.Section:
    """The tier table and the actions chosen in each tier."""
    section = page.Section(
        "tiers",
        "Tiers, actions and expected profit",
        "Expected profit of an action = churn probability x value x its save rate - offer and "
        "contact costs. High: the best positive expected profits within the contact budget; "
        "medium: a positive expected profit of the low-cost action beyond it; other: no action. "
        "A random share of each tier is held out as the control group.",
    )
    summary = numbers.tier_summary(scores)[
        ["customers", "share", "control", "mean_churn_probability", "total_value",
         "expected_revenue_at_risk", "expected_profit"]
    ]  # fmt: skip
    summary.columns = [
        "customers", "share", "control group", "mean churn probability", "value",
        "expected revenue at risk", "expected profit",
    ]  # fmt: skip
    amount = money_format(currency)
    money = {"value": amount, "expected revenue at risk": amount, "expected profit": amount}
    section.add(
        page.table(
            summary,
            {"share": _percent, "mean churn probability": _percent, **money},
            "tier-table",
            row_class=lambda key: f"tier-{key}",
        )
    )
    actions = numbers.action_table(scores).set_index("tier")
    actions.columns = ["action", "customers", "expected profit"]
    section.add(
        page.heading("Actions per tier"),
        page.table(actions, {"expected profit": amount}, "action-table"),
    )
    return section


def retention_section(inputs: ReportInputs, months_shown: int = 12) -> page.Section:
    """Churn, retention and revenue churn by month, and the cohort table."""
    section = page.Section(
        "retention",
        "Retention by month",
        "Churn rate = customers lost in the month / customers at its start x 100; retention "
        "rate = (customers at the end - new customers) / customers at the start x 100; revenue "
        "churn = last month's revenue of the customers lost / that of all customers at the "
        "start x 100. Only complete calendar months (UTC). Changes are in percentage points.",
    )
    if inputs.lifetimes is None or inputs.until is None:
        return section.add(page.paragraph("Needs the dataset (--data).", "note"))
    kpis = retention.monthly_kpis(inputs.lifetimes, inputs.revenue, inputs.until)
    kpis = kpis[kpis["customers_start"] > 0]
    if kpis.empty:
        return section.add(page.paragraph("No complete month with customers yet.", "note"))
    section.add(page.image(figures.monthly_rates(kpis), "churn and retention by month"))
    indexed = kpis.set_index("month")
    comparison = pd.DataFrame(index=indexed.index)
    for column, label in (
        ("churn_rate", "churn"),
        ("retention_rate", "retention"),
        ("revenue_churn", "revenue churn"),
    ):
        compared = retention.compare_periods(indexed[column])
        comparison[f"{label} %"] = compared["value"]
        comparison[f"{label} vs prev. month"] = compared["change_vs_previous_month"]
        comparison[f"{label} vs year before"] = compared["change_vs_last_year"]
    comparison.insert(0, "customers at start", indexed["customers_start"])
    comparison.insert(1, "lost", indexed["lost_customers"])
    comparison.insert(2, "new", indexed["new_customers"])
    comparison = comparison.tail(months_shown).iloc[::-1]
    comparison.index = [f"{m:%Y-%m}" for m in comparison.index]
    signed = {c: (lambda v: f"{float(v):+.2f}") for c in comparison.columns if " vs " in c}
    plain = {c: (lambda v: f"{float(v):.2f}") for c in comparison.columns if c.endswith("%")}
    counts = {c: (lambda v: f"{int(v):,}") for c in ("customers at start", "lost", "new")}
    section.add(page.table(comparison, {**signed, **plain, **counts}, "retention-table", "month"))
    cohorts = retention.cohort_retention(inputs.lifetimes, inputs.until)
    cohorts = cohorts[cohorts.index >= inputs.until - pd.DateOffset(months=24)]
    if len(cohorts):
        section.add(
            page.heading("Cohorts: % of each signup month still customers"),
            page.image(figures.cohort_heatmap(cohorts), "cohort retention table"),
            page.heading("Cohorts compared: retention after 1 and 3 months"),
            page.table(
                cohort_comparison(cohorts),
                table_id="cohort-table",
                index_label="signup month",
            ),
        )
    return section


def cohort_comparison(cohorts: pd.DataFrame, months: tuple[int, ...] = (1, 3)) -> pd.DataFrame:
    """Retention after k months per cohort, against the previous cohort and a year before."""
    table = pd.DataFrame(index=cohorts.index)
    table["customers"] = cohorts["customers"].astype("int64")
    for k in months:
        if k not in cohorts.columns:
            continue
        compared = retention.compare_periods(cohorts[k])
        table[f"month {k} %"] = compared["value"].round(2)
        table[f"month {k} vs prev. cohort"] = compared["change_vs_previous_month"].round(2)
        table[f"month {k} vs year before"] = compared["change_vs_last_year"].round(2)
    table = table.iloc[::-1]
    table.index = [f"{m:%Y-%m}" for m in table.index]
    return table
