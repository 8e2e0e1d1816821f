"""The numbers behind the churn-drivers report: pure functions of scores, contributions, labels.

Plots live in `reporting.figures`, the HTML in `reporting.html`, the sections in
`reporting.sections` and `reporting.report`, the wiring (loading scores, the model and the data)
in `pipelines.report`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.decisions import TIERS

REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")


def mean_abs_by_feature(contributions: pd.DataFrame, names: list[str]) -> pd.Series:
    """Mean |SHAP| per feature, largest first: the global importance of each feature."""
    return contributions[names].abs().mean().sort_values(ascending=False, kind="stable")


def family_contributions(contributions: pd.DataFrame, families: dict[str, str]) -> pd.DataFrame:
    """Per-row contributions summed within each signal family (SHAP values are additive)."""
    grouped = contributions[list(families)].T.groupby(pd.Series(families)).sum().T
    return grouped.reindex(columns=sorted(grouped.columns))


def mean_abs_by_family(contributions: pd.DataFrame, families: dict[str, str]) -> pd.Series:
    """Mean |summed SHAP| per signal family, largest first."""
    per_row = family_contributions(contributions, families)
    return per_row.abs().mean().sort_values(ascending=False, kind="stable")


def tier_drivers(
    contributions: pd.DataFrame, tiers: pd.Series, names: list[str], top: int = 10
) -> dict[str, pd.Series]:
    """For each acting tier (high, medium): the features pushing risk up most, by mean SHAP."""
    drivers = {}
    for tier in TIERS[:2]:
        rows = contributions.loc[tiers.reindex(contributions.index) == tier, names]
        if rows.empty:
            drivers[tier] = pd.Series(dtype="float64")
            continue
        mean = rows.mean().sort_values(ascending=False, kind="stable")
        drivers[tier] = mean[mean > 0].head(top)
    return drivers


def reason_counts(scores: pd.DataFrame, tier: str, top: int = 8) -> pd.DataFrame:
    """The most common reason codes in a tier: customers naming it among their top three."""
    rows = scores[scores["tier"] == tier]
    present = [c for c in REASON_COLUMNS if c in rows]
    reasons = pd.concat([rows[c] for c in present], ignore_index=True).dropna()
    reasons = reasons[reasons.astype("str").str.len() > 0]
    counts = reasons.value_counts().head(top)
    return pd.DataFrame(
        {
            "reason": counts.index.astype("str"),
            "customers": counts.to_numpy(),
            "share": counts.to_numpy() / max(len(rows), 1),
        }
    )


def action_counts(scores: pd.DataFrame, tier: str) -> pd.DataFrame:
    """Suggested actions in a tier, most common first."""
    rows = scores[scores["tier"] == tier]
    counts = rows["action"].dropna().value_counts()
    return pd.DataFrame(
        {
            "action": counts.index.astype("str"),
            "customers": counts.to_numpy(),
            "share": counts.to_numpy() / max(len(rows), 1),
        }
    )


def tier_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per tier (high, medium, other; always all three): size, control group, risk,
    value, revenue at risk and expected profit."""
    grouped = scores.groupby("tier", observed=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_churn_probability": grouped["churn_probability"].mean(),
            "total_value": grouped["value"].sum(),
            "expected_revenue_at_risk": grouped["expected_loss"].sum(),
            "control": grouped["control"].sum(),
            "expected_profit": grouped["expected_profit"].sum(),
        }
    ).reindex(list(TIERS))
    table[["customers", "control"]] = table[["customers", "control"]].fillna(0).astype("int64")
    money = ["total_value", "expected_revenue_at_risk", "expected_profit"]
    table[money] = table[money].fillna(0.0)
    table["share"] = table["customers"] / max(len(scores), 1)
    table.index.name = "tier"
    return table


def action_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per tier and action: customers and the expected profit of acting on them (the control
    group's "none (control)" row shows the profit forgone to measure whether acting helps)."""
    acted = scores[scores["tier"] != "other"]
    table = (
        acted.groupby(["tier", "action"], observed=True)
        .agg(customers=("customer_id", "size"), expected_profit=("expected_profit", "sum"))
        .reset_index()
    )
    table["tier"] = pd.Categorical(table["tier"], categories=list(TIERS), ordered=True)
    return table.sort_values(
        ["tier", "expected_profit"], ascending=[True, False], ignore_index=True
    )


def calibration_table(label: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean prediction and observed churn rate in equal-frequency bins (as the ECE uses)."""
    label = np.asarray(label, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    order = np.argsort(probability, kind="stable")
    rows = [
        {
            "mean_prediction": probability[chunk].mean(),
            "observed_rate": label[chunk].mean(),
            "rows": len(chunk),
        }
        for chunk in np.array_split(order, bins)
        if len(chunk)
    ]
    return pd.DataFrame(rows)


def lift_table(label: np.ndarray, probability: np.ndarray, steps: int = 20) -> pd.DataFrame:
    """Contacting the top x% by risk: share of churners caught (capture) and lift over random."""
    label = np.asarray(label, dtype=np.float64)
    ranked = label[np.argsort(-np.asarray(probability, dtype=np.float64), kind="stable")]
    caught = np.cumsum(ranked)
    total = max(ranked.sum(), 1.0)
    base_rate = ranked.mean() if len(ranked) else np.nan
    rows = []
    for step in range(1, steps + 1):
        count = max(round(step / steps * len(ranked)), 1)
        rows.append(
            {
                "contacted_share": step / steps,
                "capture": caught[count - 1] / total,
                "lift": (caught[count - 1] / count) / base_rate if base_rate > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)
