"""A small seeded training matrix that follows the shared contract, with a planted churn signal.

Used by the model tests so they do not depend on the feature builders or a dataset on disk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANS = ["basic", "plus", "premium"]
PLAN_EFFECT = {"basic": 0.6, "plus": 0.0, "premium": -0.6}


def true_churn_logit(frame: pd.DataFrame) -> np.ndarray:
    """The planted log-odds of churn the model should recover."""
    plan = frame["plan"].astype(str).map(PLAN_EFFECT).to_numpy(dtype=float)
    return (
        -2.2
        + 0.035 * frame["days_since_last_activity"].fillna(60).to_numpy()
        - 0.25 * frame["purchases_365d"].to_numpy()
        + 0.7 * frame["support_contacts_30d"].to_numpy()
        + plan
    )


def synthetic_matrix(
    customers: int = 600,
    cutoffs: int = 4,
    seed: int = 0,
    *,
    split_column: bool = False,
) -> pd.DataFrame:
    """One row per (customer, cutoff) with contract dtypes; `cutoffs=1` gives a single snapshot."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=cutoffs, freq="30D", tz="UTC").as_unit("us")
    ids = np.array([f"c{i:05d}" for i in range(customers)])
    plans = rng.choice(PLANS, size=customers, p=[0.5, 0.3, 0.2])
    parts = []
    for index, cutoff in enumerate(dates):
        # Not every customer is active at every cutoff: a customer may appear in several snapshots.
        active = rng.random(customers) < 0.85
        n = int(active.sum())
        part = pd.DataFrame(
            {
                "customer_id": pd.array(ids[active], dtype="str"),
                "cutoff": pd.Series([cutoff] * n, dtype="datetime64[us, UTC]"),
                "days_since_last_activity": rng.exponential(20.0, n).round(),
                "purchases_365d": rng.poisson(4.0, n).astype("float64"),
                "revenue_365d": rng.gamma(2.0, 60.0, n),
                "tenure_days": (rng.uniform(30, 1500, n) + 30 * index).round(),
                "support_contacts_30d": rng.poisson(0.6, n).astype("float64"),
                "noise": rng.normal(size=n),
                "plan": pd.Categorical(plans[active], categories=PLANS),
            }
        )
        # A few missing values, as real recency features have for never-active customers.
        part.loc[rng.random(n) < 0.03, "days_since_last_activity"] = np.nan
        probability = 1.0 / (1.0 + np.exp(-true_churn_logit(part)))
        part.insert(2, "churned", (rng.random(n) < probability).astype("float64"))
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    if split_column:
        test = rng.random(len(frame)) < 0.2
        frame.insert(3, "split", pd.array(np.where(test, "test", "train"), dtype="str"))
    return frame


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The generator's churn probability for each row (the ceiling for any model's AUC)."""
    return 1.0 / (1.0 + np.exp(-true_churn_logit(frame)))
