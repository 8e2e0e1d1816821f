"""The backtest ledger: how each night's written scores turned out once its labels matured.

Pure steps: one night's scores (as written that night, never re-scored) and its label snapshot in,
one ledger row out. A night whose horizon has not passed gets what its calibrated probabilities
alone expect (churners overall and per tier, each tier's precision); a matured night shows that
estimate beside the outcome and, when its scores hold a control group, each acted-on tier's churn
rate of treated against control customers: the measured incremental retention. No customer id
ever leaves these functions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.config import BacktestSettings
from models.decisions import TIERS
from models.evaluation import classification_metrics, expected_calibration_error

# Score column -> its values, each reported per value. Older nights may carry more columns
# (risk_tier, value_tier); they are read and left out.
GROUPS = {"tier": TIERS}
# Tiers whose customers get an action, so whose control group measures it.
ACTED_TIERS = tuple(tier for tier in TIERS if tier != "other")
CONFIDENCE = 0.95
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
TEXT_COLUMNS = ("as_of", "status", "model_version", "reasons", "unjudged_tiers")
# Whole counts; every other number is a float (null where it does not apply).
COUNT_SUFFIXES = ("rows", "customers", "churners", "unscored_active")


def expected_churn(scores: pd.DataFrame) -> dict:
    """What the probabilities alone expect: churners (their sum, with the Poisson-binomial
    standard deviation) overall and per tier, and each tier's precision (its mean probability)."""
    probability = scores["churn_probability"].to_numpy(dtype=np.float64)
    row: dict = {
        "rows": len(scores),
        "expected_churners": float(probability.sum()),
        "expected_churners_sd": float(np.sqrt((probability * (1 - probability)).sum())),
        "mean_predicted": float(probability.mean()) if len(probability) else None,
    }
    for column, names in GROUPS.items():
        for name in names:
            chosen = probability[(scores[column] == name).to_numpy()]
            prefix = f"{column}_{name}"
            row[f"{prefix}_customers"] = len(chosen)
            row[f"{prefix}_expected_churners"] = float(chosen.sum())
            row[f"{prefix}_expected_precision"] = float(chosen.mean()) if len(chosen) else None
    return row


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) standard error of a ROC AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return float(math.sqrt(max(variance, 0.0)))


def observed_churn(scores: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """The night's scores joined to its outcomes: metrics on the customers in both, and counts of
    those scored but missing from the label snapshot (and the reverse), never dropped unsaid."""
    outcome = labels[["customer_id", "churned"]].dropna(subset=["churned"])
    columns = ["customer_id", "churn_probability", *GROUPS]
    columns += ["control"] if "control" in scores.columns else []
    joined = scores[columns].merge(
        outcome, on="customer_id", how="left", validate="one_to_one", indicator=True
    )
    found = (joined.pop("_merge") == "both").to_numpy()
    labelled = joined[found]
    label = labelled["churned"].to_numpy(dtype=np.float64)
    probability = labelled["churn_probability"].to_numpy(dtype=np.float64)
    churners = int(label.sum())
    # Acting changes outcomes: the model is judged on the customers nobody acted on, each control
    # group weighted up to its tier, so the figures describe the whole night as if untouched.
    # (Unweighted, tier "other" would dominate: the lowest probabilities, whose tail calibration
    # then decides the flag.)
    weight = untreated_weights(labelled)
    judged = weight > 0
    expected = float((weight * probability).sum())
    observed = float((weight * label).sum())
    sd = float(np.sqrt((weight**2 * probability * (1 - probability)).sum()))
    row: dict = {
        "labelled_rows": len(labelled),
        "unlabelled_rows": int((~found).sum()),
        "unscored_active": int((~outcome["customer_id"].isin(scores["customer_id"])).sum()),
        "churners": churners,
        "judged_rows": int(judged.sum()),
        "unjudged_tiers": ",".join(unjudged_tiers(labelled)),
        "judged_churners_estimate": observed,
        "expected_churners_labelled": expected,
        "observed_rate": churners / len(label) if len(label) else None,
        "observed_to_expected": observed / expected if expected > 0 else None,
        "churners_z": (observed - expected) / sd if sd > 0 else None,
    }
    row.update(_metrics(label[judged], probability[judged], weight[judged]))
    for column, names in GROUPS.items():
        for name in names:
            chosen = label[(labelled[column] == name).to_numpy()]
            prefix = f"{column}_{name}"
            row[f"{prefix}_churners"] = int(chosen.sum())
            row[f"{prefix}_precision"] = float(chosen.mean()) if len(chosen) else None
            row[f"{prefix}_capture"] = float(chosen.sum() / churners) if churners else None
    if "control" in labelled.columns:
        control = labelled["control"].fillna(False).to_numpy(dtype=bool)
        tier = labelled["tier"].to_numpy()
        for name in ACTED_TIERS:
            row.update(treated_vs_control(f"tier_{name}", label, tier == name, control))
    return row


def unjudged_tiers(labelled: pd.DataFrame) -> list[str]:
    """Acted-on tiers with customers but no control group: nothing stands for them untreated,
    so the night is judged without them (say so; a small night's high tier often has none)."""
    if "control" not in labelled.columns:
        return []
    control = labelled["control"].fillna(False).to_numpy(dtype=bool)
    tier = labelled["tier"].to_numpy()
    return [t for t in ACTED_TIERS if (tier == t).any() and not (control & (tier == t)).any()]


def untreated_weights(labelled: pd.DataFrame) -> np.ndarray:
    """Per row, its weight in judging the model: 1 where no action was planned (tier other, or
    nights without a control group), 0 for treated customers (the action changed their outcome),
    and for the control group its tier's customers over its controls, so the held-out share
    stands for the whole tier as if nobody had been acted on (inverse-probability weighting)."""
    weight = np.ones(len(labelled))
    if "control" not in labelled.columns:
        return weight
    control = labelled["control"].fillna(False).to_numpy(dtype=bool)
    tier = labelled["tier"].to_numpy()
    for name in ACTED_TIERS:
        in_tier = tier == name
        held = in_tier & control
        weight[in_tier] = 0.0
        if held.any():
            weight[held] = in_tier.sum() / held.sum()
    return weight


def newcombe_interval(
    churners_a: int, customers_a: int, churners_b: int, customers_b: int, confidence: float
) -> tuple[float, float]:
    """Newcombe's (1998) hybrid score interval ("method 10") for the difference of two
    proportions a - b, from each proportion's Wilson score interval (scipy's): unlike Wald's it
    stays inside [-1, 1] and keeps its coverage for small groups and rates near 0 or 1."""
    from scipy.stats import binomtest

    rate_a, rate_b = churners_a / customers_a, churners_b / customers_b
    low_a, high_a = binomtest(churners_a, customers_a).proportion_ci(confidence, "wilson")
    low_b, high_b = binomtest(churners_b, customers_b).proportion_ci(confidence, "wilson")
    difference = rate_a - rate_b
    return (
        difference - math.sqrt((rate_a - low_a) ** 2 + (high_b - rate_b) ** 2),
        difference + math.sqrt((high_a - rate_a) ** 2 + (rate_b - low_b) ** 2),
    )


def treated_vs_control(
    prefix: str, label: np.ndarray, chosen: np.ndarray, control: np.ndarray
) -> dict:
    """Customers and churn rates of the chosen rows outside and inside the control group, and
    the difference treated minus control with its 95% interval: negative when the action
    retained customers (null while either group is empty)."""
    treated, held = label[chosen & ~control], label[chosen & control]
    row: dict = {
        f"{prefix}_treated_customers": len(treated),
        f"{prefix}_control_customers": len(held),
        f"{prefix}_treated_churners": int(treated.sum()),
        f"{prefix}_control_churners": int(held.sum()),
        f"{prefix}_treated_churn_rate": float(treated.mean()) if len(treated) else None,
        f"{prefix}_control_churn_rate": float(held.mean()) if len(held) else None,
    }
    difference = low = high = None
    if len(treated) and len(held):
        difference = row[f"{prefix}_treated_churn_rate"] - row[f"{prefix}_control_churn_rate"]
        low, high = newcombe_interval(
            int(treated.sum()), len(treated), int(held.sum()), len(held), CONFIDENCE
        )
    row[f"{prefix}_treated_minus_control"] = difference
    row[f"{prefix}_treated_minus_control_ci_low"] = low
    row[f"{prefix}_treated_minus_control_ci_high"] = high
    return row


def _metrics(label: np.ndarray, probability: np.ndarray, weight: np.ndarray) -> dict:
    """The ledger's metrics (weighted as `untreated_weights` says); the ranking ones are null
    when a night has a single class."""
    if len(label) == 0:
        return dict.fromkeys((*METRICS, "roc_auc_se"))
    if (weight != 1).any():
        return weighted_metrics(label, probability, weight)
    if 0 < label.sum() < len(label):
        metrics = {key: classification_metrics(label, probability)[key] for key in METRICS}
        positives = int(label.sum())
        metrics["roc_auc_se"] = auc_standard_error(
            metrics["roc_auc"], positives, len(label) - positives
        )
        return metrics
    clipped = np.clip(probability, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": None,
        "roc_auc_se": None,
        "pr_auc": None,
        "log_loss": float(-np.mean(label * np.log(clipped) + (1 - label) * np.log(1 - clipped))),
        "brier": float(np.mean((probability - label) ** 2)),
        "ece": expected_calibration_error(label, probability),
    }


def weighted_metrics(label: np.ndarray, probability: np.ndarray, weight: np.ndarray) -> dict:
    """The ledger's metrics with row weights (sklearn's sample_weight); ECE, which has no
    weighted form here, on the rows as they are. The AUC's standard error counts the rows."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    clipped = np.clip(probability, 1e-15, 1 - 1e-15)
    both = 0 < label.sum() < len(label)
    auc = float(roc_auc_score(label, clipped, sample_weight=weight)) if both else None
    positives = int(label.sum())
    return {
        "roc_auc": auc,
        "roc_auc_se": auc_standard_error(auc, positives, len(label) - positives) if both else None,
        "pr_auc": float(average_precision_score(label, clipped, sample_weight=weight))
        if both
        else None,
        "log_loss": float(log_loss(label, clipped, sample_weight=weight, labels=[0, 1])),
        "brier": float(brier_score_loss(label, clipped, sample_weight=weight)),
        "ece": expected_calibration_error(label, probability),
    }


def among_untreated(row: dict) -> str:
    """Words saying the churners were counted among untreated customers, when some were acted on."""
    acted = row.get("judged_rows", row.get("labelled_rows")) != row.get("labelled_rows")
    return (
        " among customers nobody acted on, control groups weighted to their tiers" if acted else ""
    )


def retrain_reasons(row: dict, settings: BacktestSettings, test_auc: float | None) -> list[str]:
    """Why a matured night recommends retraining: its observed/expected churn ratio leaves the
    band, or its AUC fell too far below the model's test AUC, each beyond the night's noise."""
    reasons = []
    low, high = settings.observed_to_expected_band
    ratio, z = row.get("observed_to_expected"), row.get("churners_z")
    noisy = z is not None and abs(z) <= settings.significance_sd
    if ratio is not None and not low <= ratio <= high and not noisy:
        reasons.append(
            f"observed/expected churners {ratio:.2f} outside [{low:g}, {high:g}] "
            f"({row.get('judged_churners_estimate', row['churners']):.0f} observed, "
            f"{row['expected_churners_labelled']:.1f} expected{among_untreated(row)})"
        )
    auc, se = row.get("roc_auc"), row.get("roc_auc_se") or 0.0
    if auc is not None and test_auc is not None:
        drop = test_auc - auc
        if drop > settings.max_auc_drop and drop > settings.significance_sd * se:
            reasons.append(
                f"ROC AUC {auc:.3f} is {drop:.3f} below the model's test AUC {test_auc:.3f} "
                f"(allowed {settings.max_auc_drop:g})"
            )
    return reasons


def ledger_row(
    as_of: str,
    scores: pd.DataFrame,
    labels: pd.DataFrame | None,
    settings: BacktestSettings,
    test_auc: float | None = None,
) -> dict:
    """One night of the ledger: the estimate always, the outcome and flags once labels exist
    (`labels` None means the night is pending)."""
    versions = sorted(scores["model_version"].dropna().astype(str).unique())
    row: dict = {
        "as_of": as_of,
        "status": "pending" if labels is None else "matured",
        "model_version": ",".join(versions),
        "model_test_auc": test_auc,
    }
    row.update(expected_churn(scores))
    reasons: list[str] = []
    if labels is not None:
        row.update(observed_churn(scores, labels))
        if row["roc_auc"] is not None and test_auc is not None:
            row["auc_drop"] = test_auc - row["roc_auc"]
        reasons = retrain_reasons(row, settings, test_auc)
    row["retrain_recommended"] = bool(reasons)
    row["reasons"] = "; ".join(reasons)
    return row


def ledger_frame(rows: list[dict]) -> pd.DataFrame:
    """The ledger as a table with stable types: pending nights leave outcome columns null."""
    frame = pd.DataFrame.from_records(rows)
    for column in frame.columns:
        if column in TEXT_COLUMNS:
            frame[column] = frame[column].astype("string")
        elif column == "retrain_recommended":
            frame[column] = frame[column].astype("boolean")
        elif column.endswith(COUNT_SUFFIXES) and not column.endswith("expected_churners"):
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
        else:
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame
