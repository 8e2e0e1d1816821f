"""What acting on the model's ranking would have earned on labelled rows (the out-of-time test).

A contacted customer who would have churned is kept with the action's save rate, so acting on
customer i with action a earns, once the outcome y is known,

    y x value x save_rate(a) - offer_cost(a) - contact_cost(a).

The profit curve ranks customers the way the nightly job does (expected profit of the high tier's
action) and adds up that realised profit for each share contacted. EMPC, the expected maximum
profit per customer (Verbraken et al. 2013), takes the save rate as uncertain: a Beta
distribution with the configured rate as its mean (a + b = 20, i.e. Beta(6, 14) for 0.3, the
paper's choice), and averages the best point of the curve over it.

Rows are priced with the default actions of `decisions.high` and `decisions.medium` (the reason
that picks another action is not computed on the test rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from features.config import Action, Decisions
from models.decisions import action_profit, choose

SHARES = np.round(np.linspace(0, 1, 21), 2)  # the curve's points: 0%, 5%, ..., 100% contacted
BETA_WEIGHT = 20.0  # a + b of the save rate's Beta distribution
EMPC_POINTS = 200  # quantiles of that distribution averaged over


def profit_curve(
    label: np.ndarray, probability: np.ndarray, value: np.ndarray, decisions: Decisions
) -> tuple[pd.DataFrame, np.ndarray]:
    """Realised profit of contacting the top share of rows (by expected profit) with the high
    tier's default action, per share in SHARES; and the ranking used."""
    action = decisions.actions[decisions.high["default"]]
    order = np.argsort(-action_profit(probability, value, action), kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(action_profit(label, value, action)[order])])
    contacted = np.round(SHARES * len(label)).astype(int)
    churners = np.concatenate([[0.0], np.cumsum(label[order])])
    curve = pd.DataFrame(
        {
            "share_contacted": SHARES,
            "customers": contacted,
            "churners_reached": churners[contacted].astype(int),
            "profit": cumulative[contacted],
        }
    )
    return curve, order


def empc(label: np.ndarray, value: np.ndarray, order: np.ndarray, action: Action) -> float:
    """Expected maximum profit per customer over a Beta-distributed save rate."""
    if not len(label):
        return 0.0
    mean = action.save_rate
    if mean in (0.0, 1.0):
        rates = np.array([mean])
    else:
        beta = stats.beta(BETA_WEIGHT * mean, BETA_WEIGHT * (1 - mean))
        rates = beta.ppf((np.arange(EMPC_POINTS) + 0.5) / EMPC_POINTS)
    saved = np.concatenate([[0.0], np.cumsum((label * value)[order])])
    costs = np.arange(len(label) + 1) * (action.offer_cost + action.contact_cost)
    best = [(rate * saved - costs).max() for rate in rates]
    return float(np.mean(best) / len(label))


def policy_profit(
    label: np.ndarray, probability: np.ndarray, value: np.ndarray, decisions: Decisions
) -> dict:
    """Realised profit of the configured policy (high within the budget, medium beyond it),
    of contacting everyone with the high action, and of contacting nobody."""
    ids = pd.Series(np.arange(len(label)).astype(str))
    reasons = pd.DataFrame(
        {"customer_id": ids, "reason_1_family": None, "reason_1_direction": None}
    )
    chosen = choose(probability, value, reasons, decisions)
    earned = np.zeros(len(label))
    for name in chosen["action_name"].dropna().unique():
        rows = (chosen["action_name"] == name).to_numpy()
        earned[rows] = action_profit(label[rows], value[rows], decisions.actions[name])
    everyone = action_profit(label, value, decisions.actions[decisions.high["default"]])
    tiers = chosen["tier"].to_numpy()
    return {
        "budget": float(earned.sum()),
        "contact_everyone": float(everyone.sum()),
        "contact_nobody": 0.0,
        "tiers": {
            tier: {
                "customers": int((tiers == tier).sum()),
                "churners": int(label[tiers == tier].sum()),
                "expected_profit": float(chosen["expected_profit"][tiers == tier].sum()),
                "realised_profit": float(earned[tiers == tier].sum()),
            }
            for tier in ("high", "medium", "other")
        },
    }


def profit_evaluation(
    label: np.ndarray, probability: np.ndarray, value: np.ndarray, decisions: Decisions
) -> dict:
    """The evaluation's decisions section: the policy against contacting everyone or nobody,
    the profit curve and EMPC, in `decisions.currency`."""
    label = np.asarray(label, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    curve, order = profit_curve(label, probability, value, decisions)
    action = decisions.actions[decisions.high["default"]]
    return {
        "currency": decisions.currency,
        "high_action": decisions.high["default"],
        "medium_action": decisions.medium["default"],
        **policy_profit(label, probability, value, decisions),
        "empc_per_customer": empc(label, value, order, action),
        "curve": curve.to_dict(orient="records"),
    }
