"""The numbers behind the churn-drivers report: pure functions of scores, contributions, labels.

Plots live in `reporting.figures`, the HTML in `reporting.html`, the sections in
`reporting.sections` and `reporting.report`, the wiring (loading scores, the model and the data)
in `pipelines.report`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.config import Action
from models.decisions import TIERS, action_profit, rank_order
from models.explain import ReasonTemplate
from models.scoring import TierSummary

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
    value, revenue at risk and the expected profit of acting on its treated customers, the
    manifest's own totals (`TierSummary`) beside each tier's mean probability."""
    totals = TierSummary()
    totals.add(scores)
    table = pd.DataFrame.from_dict(totals.to_dict(), orient="index").rename(
        columns={"value": "total_value", "revenue_at_risk": "expected_revenue_at_risk"}
    )
    table["mean_churn_probability"] = (
        scores.groupby("tier")["churn_probability"].mean().reindex(table.index)
    )
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


def ranked_by_profit(scores: pd.DataFrame, fallback: Action | None = None) -> pd.DataFrame:
    """Every scored customer by the expected profit of contacting them, highest first (ties by
    customer id, as the job breaks them): the profit of the action the job chose (the costly
    one for tier high, the nurture one for medium; the job itself ranks the budget by the costly
    action alone), and for customers it left out (tier other) that of `fallback` (the high
    tier's default action), if given. Control customers count as if contacted."""
    probability = scores["churn_probability"].to_numpy(dtype=np.float64)
    profit = scores["expected_profit"].to_numpy(dtype=np.float64).copy()
    if fallback is not None:
        left_out = (scores["tier"] == "other").to_numpy()
        value = scores["value"].to_numpy(dtype=np.float64)[left_out]
        profit[left_out] = action_profit(probability[left_out], value, fallback)
    chosen = rank_order(profit, scores["customer_id"])
    return pd.DataFrame(
        {"churn_probability": probability[chosen], "expected_profit": profit[chosen]}
    )


def audience_curve(scores: pd.DataFrame, fallback: Action | None = None) -> pd.DataFrame:
    """Contacting the top k customers by expected profit, for every k: customers contacted and
    their share, churners reached (expected: the sum of their probabilities) and their share of
    all expected churners, precision (churners reached / contacted) and expected profit."""
    ranked = ranked_by_profit(scores, fallback)
    contacted = np.arange(1, len(ranked) + 1)
    reached = ranked["churn_probability"].cumsum().to_numpy()
    total = reached[-1] if len(reached) else 0.0
    return pd.DataFrame(
        {
            "contacted": contacted,
            "contacted_share": contacted / max(len(ranked), 1),
            "churners_reached": reached,
            "churners_share": reached / total if total > 0 else np.nan,
            "precision": reached / contacted,
            "expected_profit": ranked["expected_profit"].cumsum().to_numpy(),
        }
    )


def audience_table(curve: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """The curve's rows at the named audience sizes (each clipped to 1..all), smallest first."""
    if curve.empty:
        return curve.iloc[0:0]
    counts = {name: int(min(max(count, 1), len(curve))) for name, count in sizes.items()}
    names = sorted(counts, key=lambda name: (counts[name], name))
    table = curve.iloc[[counts[name] - 1 for name in names]].copy()
    table.index = pd.Index(names, name="audience")
    return table


def audience_sizes(customers: int, shares: tuple[float, ...], budget: int) -> dict[str, int]:
    """Audience sizes by share of the scored customers, and the configured budget (named with
    the share it matches, when it matches one)."""
    sizes = {f"top {share:.0%}": max(int(share * customers), 1) for share in shares}
    same = [name for name, count in sizes.items() if count == budget]
    if same:
        sizes[f"{same[0]} (budget)"] = sizes.pop(same[0])
    else:
        sizes["budget"] = max(budget, 1)
    return sizes


DRIFT_WORDS = {"ok": "ok", "warn": "warning", "fail": "failed"}


def drift_words(drift: dict) -> str:
    """A night's drift status in words, saying when a failed night was published anyway."""
    status = drift.get("status", "—")
    words = DRIFT_WORDS.get(status, status)
    if status == "fail" and drift.get("allowed"):
        words += ", published with --allow-drift"
    if drift.get("retrain_recommended"):
        words += "; retrain recommended"
    return words


def nights_frame(entries: list[dict], feed_checked: bool = True) -> pd.DataFrame:
    """Night over night from the scored days' manifests (each a manifest's dict, with the
    night's `mean_churn_probability` added): tier counts, mean risk, revenue at risk, expected
    profit of the actions taken, drift and feed status, and the events validation dropped."""
    rows = []
    for entry in entries:
        tiers = entry.get("tiers", {})
        quality = entry.get("data_quality", {})
        feed = entry.get("feed", {}).get("status") if entry.get("feed") else None
        rows.append(
            {
                "night": entry["as_of"],
                "customers": entry.get("rows"),
                **{tier: tiers.get(tier, {}).get("customers", 0) for tier in TIERS},
                "mean_churn_probability": entry.get("mean_churn_probability", np.nan),
                "revenue_at_risk": sum(t.get("revenue_at_risk", 0.0) for t in tiers.values()),
                "expected_profit": sum(t.get("expected_profit", np.nan) for t in tiers.values()),
                "drift": drift_words(entry.get("drift", {})),
                "feed": feed or ("passed" if feed_checked else "not checked (no event feed)"),
                "events_dropped": quality.get("duplicate_events_dropped", 0)
                + quality.get("unknown_customer_events_dropped", 0),
            }
        )
    return pd.DataFrame(rows).set_index("night") if rows else pd.DataFrame()


def driver_groups(
    scores: pd.DataFrame,
    tier: str,
    template_of: Callable[[str], ReasonTemplate],
    columns: tuple[str, ...] = REASON_COLUMNS,
    top: int = 8,
) -> pd.DataFrame:
    """The most common drivers in a tier, one per (family, template): "contacted support 4
    times" and "... 5 times" are one driver. Customers counts those naming it (once each)."""
    rows = scores[scores["tier"] == tier]
    present = [c for c in columns if c in rows]
    texts = pd.concat([rows[c] for c in present]) if present else pd.Series(dtype=object)
    texts = texts.dropna().astype("str")
    texts = texts[texts.str.len() > 0]
    if texts.empty:
        return pd.DataFrame(columns=["driver", "family", "customers", "share"])
    found = [template_of(text) for text in texts]
    long = pd.DataFrame(
        {
            "customer": texts.index,
            "driver": [t.words for t in found],
            "family": [t.family for t in found],
        }
    )
    counts = (
        long.drop_duplicates()
        .groupby(["family", "driver"])
        .size()
        .rename("customers")
        .reset_index()
        .sort_values(["customers", "driver"], ascending=[False, True], kind="stable")
        .head(top)
        .reset_index(drop=True)
    )
    counts["share"] = counts["customers"] / max(len(rows), 1)
    return counts[["driver", "family", "customers", "share"]]


def waterfall_steps(
    contributions: pd.Series,
    families: dict[str, str],
    calibrate: Callable[[np.ndarray], np.ndarray],
    up: int = 3,
) -> pd.DataFrame:
    """One customer's risk built up from the model's starting point (the bias, log-odds): the
    `up` families raising it most (largest first), the rest together, then the family lowering
    it most (the protective one), each step's log-odds and the calibrated probability before
    and after it; the last row's probability is the customer's."""
    sums = contributions[list(families)].groupby(pd.Series(families)).sum()
    order = sums.sort_values(ascending=False, kind="stable")
    raising = order[order > 0].head(up)
    lowering = order[order < 0]
    protective = lowering.sort_values(kind="stable").head(1)
    rest = float(sums.sum() - raising.sum() - protective.sum())
    steps = [("start", "", float(contributions["bias"]))]
    steps += [("up", family, float(value)) for family, value in raising.items()]
    if abs(rest) > 1e-12:
        steps.append(("rest", "", rest))
    steps += [("down", family, float(value)) for family, value in protective.items()]
    raw = np.cumsum([value for _, _, value in steps])
    after = calibrate(raw)
    before = np.concatenate([[np.nan], after[:-1]])
    frame = pd.DataFrame(
        {
            "kind": [kind for kind, _, _ in steps],
            "family": [family for _, family, _ in steps],
            "log_odds": [value for _, _, value in steps],
            "raw_score": raw,
            "probability_before": before,
            "probability": after,
        }
    )
    return frame


def segment_table(
    scores: pd.DataFrame,
    profiles: pd.DataFrame,
    column: str,
    top: int = 10,
    smallest: int = 10,
) -> pd.DataFrame:
    """Risk and tier mix by the values of one profile column (the `top` largest values with at
    least `smallest` customers; the rest together, missing as "unknown"): customers, mean churn
    probability, tier shares and revenue at risk. A smaller group would show a few customers'
    risk to anyone reading the report."""
    values = profiles.set_index("customer_id")[column].astype("object")
    value = scores["customer_id"].map(values).where(lambda v: v.notna(), "unknown").astype(str)
    counts = value.value_counts()
    largest = counts[counts >= smallest].index[:top]
    value = value.where(value.isin(largest), "all other values")
    frame = scores.assign(segment=value.to_numpy())
    grouped = frame.groupby("segment", sort=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_churn_probability": grouped["churn_probability"].mean(),
            **{
                f"{tier}_share": grouped["tier"].apply(lambda t, tier=tier: (t == tier).mean())
                for tier in TIERS
            },
            "revenue_at_risk": grouped["expected_loss"].sum(),
        }
    )
    table.index.name = column
    order = table.drop(index="all other values", errors="ignore")
    order = order.sort_values("customers", ascending=False, kind="stable").index.tolist()
    return table.reindex(order + [v for v in table.index if v not in order])


def backtest_nights(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per night of a backtest ledger: expected against observed churners, ROC AUC beside the
    model's test AUC, and the retrain flag."""
    table = pd.DataFrame(
        {
            "status": ledger["status"].astype("object"),
            "customers": ledger["rows"],
            "expected_churners": ledger["expected_churners"],
            "expected_churners_sd": ledger["expected_churners_sd"],
            "observed_churners": ledger.get("churners", pd.Series(np.nan, ledger.index)),
            "observed_to_expected": ledger.get("observed_to_expected", np.nan),
            "roc_auc": ledger.get("roc_auc", np.nan),
            "model_test_auc": ledger.get("model_test_auc", np.nan),
            "retrain": ledger["retrain_recommended"].fillna(False).astype(bool),
        }
    )
    table.index = pd.Index(ledger["as_of"].astype(str), name="night")
    return table


def campaign_frame(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per matured night and acted-on tier with a control group: treated and control customers,
    their churn rates and treated minus control with its 95% interval."""
    rows = []
    for row in ledger.to_dict("records"):
        for tier in TIERS[:2]:
            prefix = f"tier_{tier}"
            if pd.isna(row.get(f"{prefix}_control_customers", np.nan)):
                continue
            rows.append(
                {
                    "night": str(row["as_of"]),
                    "tier": tier,
                    "treated": row[f"{prefix}_treated_customers"],
                    "control": row[f"{prefix}_control_customers"],
                    "treated_churn_rate": row[f"{prefix}_treated_churn_rate"],
                    "control_churn_rate": row[f"{prefix}_control_churn_rate"],
                    "difference": row[f"{prefix}_treated_minus_control"],
                    "low": row[f"{prefix}_treated_minus_control_ci_low"],
                    "high": row[f"{prefix}_treated_minus_control_ci_high"],
                }
            )
    return pd.DataFrame(rows)
