"""The day's decisions: whom to contact, with which action, and who is held out to measure it.

The expected profit of acting on a customer is

    churn probability x value x save rate - offer cost - contact cost

per action (`decisions.actions`), in the spirit of the expected-maximum-profit measure (Verbraken
et al. 2013). Tiers follow from it and the contact budget:

    high    the highest positive expected profits of the top reason's high-tier action, up to
            the budget (the costly action only inside it)
    medium  not high (beyond the budget, or the costly action does not pay there) and a
            positive expected profit of the reason's low-cost medium action
    other   no positive expected profit: no action

Consent is the customer's, not a detail: an action that needs a channel goes only to customers
who gave that channel's consent; the others get the action's consent-free `instead`, or none.

A share of every tier is held out as a control group (action "none (control)"), chosen by a salted
hash of the customer id and the campaign period: stable across reruns and across the nights of
one period, so the backtest can compare treated with control customers.

The budget needs the whole day's ranking, so this runs once per day on the explained rows of
every chunk (pure: frames in, the scores table out).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from features.config import Action, Decisions
from features.contract import SCORES

TIERS = ("high", "medium", "other")
NO_ACTION = "none"
CONTROL_ACTION = "none (control)"
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})


def planned_actions(family: pd.Series, direction: pd.Series, table: dict[str, str]) -> np.ndarray:
    """The action name for each row's top reason: "family:direction", else "family", else the
    table's default (also for rows with no reason)."""
    default = table["default"]
    by_family = family.map(table)
    specific = (family.astype("object") + ":" + direction.astype("object")).map(table)
    return specific.fillna(by_family).fillna(default).to_numpy(dtype=object)


def consent_matrix(customers: pd.DataFrame, decisions: Decisions) -> pd.DataFrame:
    """Per customer id, one boolean column per consented channel: true only where the customer
    said yes (true/yes/1); anything else, missing included, is no consent."""
    consent = pd.DataFrame(index=pd.Index(customers["customer_id"].astype(str), name="customer_id"))
    for channel, column in decisions.consent.items():
        text = customers[column].astype("string").str.strip().str.lower()
        consent[channel] = text.isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
    return consent


def allowed_actions(
    actions: np.ndarray, customer_ids: pd.Series, consent: pd.DataFrame | None, decisions: Decisions
) -> np.ndarray:
    """Each planned action, or its consent-free `instead` where the customer did not consent to
    its channel, or None (no action) where there is no such alternative."""
    result = actions.astype(object).copy()
    if consent is None or not len(consent.columns):
        return result
    given = consent.reindex(customer_ids.astype(str).to_numpy())
    for name in pd.unique(actions):
        channel = decisions.actions[name].channel
        if channel is None or channel not in given.columns:
            continue
        refused = (actions == name) & ~given[channel].fillna(False).to_numpy(dtype=bool)
        alternative = decisions.actions[name].instead
        result[refused] = alternative
        if alternative is not None:
            # The alternative may need a channel of its own (never the same one).
            result[refused] = allowed_actions(
                np.asarray([alternative] * int(refused.sum()), dtype=object),
                customer_ids[refused],
                consent,
                decisions,
            )
    return result


def action_profit(churn: np.ndarray, value: np.ndarray, action: Action) -> np.ndarray:
    """Profit of acting on each row with `action`: churn x value x save rate - offer and contact
    costs, `churn` being the churn probability (expected profit) or the known outcome 0/1
    (realised profit)."""
    return churn * value * action.save_rate - action.offer_cost - action.contact_cost


def expected_profit(
    probability: np.ndarray, value: np.ndarray, actions: np.ndarray, catalog: dict[str, Action]
) -> np.ndarray:
    """Expected profit of each row's action (NaN where there is none)."""
    profit = np.full(len(actions), np.nan)
    for name in pd.unique(actions[pd.notna(actions)]):
        rows = actions == name
        profit[rows] = action_profit(probability[rows], value[rows], catalog[name])
    return profit


def budget_size(customers: int, decisions: Decisions) -> int:
    """How many customers this run may contact with the high tier's actions."""
    budget = decisions.budget
    if budget.count is not None:
        return min(budget.count, customers)
    return int(np.floor(budget.share * customers))


def campaign_period(as_of: pd.Timestamp, decisions: Decisions) -> int:
    """The campaign period a night belongs to: whole `campaign_days` blocks since Monday
    1970-01-05, so weekly campaigns run Monday to Sunday."""
    days = (as_of.normalize().tz_localize(None) - pd.Timestamp("1970-01-05")).days
    return days // decisions.campaign_days


def control_draw(customer_ids: pd.Series, period: int, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per customer from a salted hash of (salt, period, id): the
    same on every machine, rerun and night of the period; a new draw each period."""
    prefix = f"{salt}\x1f{period}\x1f".encode()
    draws = np.empty(len(customer_ids))
    for i, customer in enumerate(customer_ids.astype(str)):
        digest = hashlib.blake2b(prefix + customer.encode(), digest_size=8).digest()
        draws[i] = int.from_bytes(digest, "big") / 2.0**64
    return draws


def rank_order(profit: np.ndarray, customer_ids: pd.Series) -> np.ndarray:
    """Row positions by expected profit, highest first; equal profits by customer id, so the
    budget's edge never depends on chunk order."""
    order = pd.DataFrame({"profit": np.nan_to_num(-profit, nan=np.inf), "id": customer_ids.values})
    return order.sort_values(["profit", "id"], kind="stable").index.to_numpy()


def choose(
    probability: np.ndarray,
    value: np.ndarray,
    reasons: pd.DataFrame,
    decisions: Decisions,
    consent: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per row (`reasons`: customer_id, reason_1_family, reason_1_direction): the tier, the
    chosen action's name (None for other) and its expected profit (0 for other)."""
    ids = reasons["customer_id"].reset_index(drop=True)
    family = reasons["reason_1_family"].reset_index(drop=True)
    direction = reasons["reason_1_direction"].reset_index(drop=True)
    offers = {}
    for tier in ("high", "medium"):
        planned = planned_actions(family, direction, getattr(decisions, tier))
        actions = allowed_actions(planned, ids, consent, decisions)
        offers[tier] = (actions, expected_profit(probability, value, actions, decisions.actions))
    high_actions, high_profit = offers["high"]
    in_budget = np.zeros(len(ids), dtype=bool)
    in_budget[rank_order(high_profit, ids)[: budget_size(len(ids), decisions)]] = True
    high = in_budget & (high_profit > 0)
    medium_actions, medium_profit = offers["medium"]
    medium = ~high & (medium_profit > 0)
    return pd.DataFrame(
        {
            "tier": np.where(high, "high", np.where(medium, "medium", "other")),
            "action_name": np.where(high, high_actions, np.where(medium, medium_actions, None)),
            "expected_profit": np.where(high, high_profit, np.where(medium, medium_profit, 0.0)),
        }
    )


def decide_day(
    explained: pd.DataFrame,
    decisions: Decisions,
    as_of: pd.Timestamp,
    consent: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The scores table for the day from its explained rows (`features.contract.EXPLAINED`)."""
    rows = explained.reset_index(drop=True)
    probability = rows["churn_probability"].to_numpy(dtype=np.float64)
    value = rows["value"].to_numpy(dtype=np.float64)
    chosen = choose(probability, value, rows, decisions, consent)
    words = {name: action.label for name, action in decisions.actions.items()}
    labels = chosen["action_name"].map(words).fillna(NO_ACTION).to_numpy(dtype=object)
    # Only customers who would be acted on can be held out from it.
    control = (chosen["tier"] != "other").to_numpy().copy()
    period = campaign_period(as_of, decisions)
    draw = control_draw(rows["customer_id"][control], period, decisions.control_salt)
    control[control] = draw < decisions.control_share
    labels[control] = CONTROL_ACTION
    rows["expected_loss"] = probability * value
    rows["expected_profit"] = chosen["expected_profit"].to_numpy()
    rows["tier"] = chosen["tier"].to_numpy()
    rows["control"] = control
    rows["action"] = labels
    return rows[SCORES.names]


CALL_LIST_COLUMNS = (
    "customer_id", "tier", "action", "reason_1", "reason_2", "reason_3", "value",
    "churn_probability", "expected_profit", "as_of",
)  # fmt: skip


def call_list(scores: pd.DataFrame, top: int | None, currency: str) -> pd.DataFrame:
    """The customers to act on, by expected profit (highest first, then customer id): never the
    control group, never the "other" tier; money rounded to cents in `currency`."""
    acted = scores[(scores["tier"] != "other") & ~scores["control"].fillna(False).astype(bool)]
    ranked = acted.sort_values(
        ["expected_profit", "customer_id"], ascending=[False, True], kind="stable"
    )
    rows = ranked.loc[:, list(CALL_LIST_COLUMNS)].head(top).reset_index(drop=True)
    rows["value"] = rows["value"].round(2)
    rows["expected_profit"] = rows["expected_profit"].round(2)
    rows["churn_probability"] = rows["churn_probability"].round(4)
    rows["as_of"] = pd.to_datetime(rows["as_of"], utc=True).dt.strftime("%Y-%m-%d")
    rows.insert(rows.columns.get_loc("value"), "currency", currency)
    return rows
