"""The day's decisions (models.decisions) and their profit on labelled rows (models.profit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import Action, Budget, ConfigError, Decisions, load_config
from models.decisions import (
    CONTROL_ACTION,
    NO_ACTION,
    campaign_period,
    consent_matrix,
    decide_day,
    planned_actions,
)
from models.profit import empc, profit_curve, profit_evaluation

AS_OF = pd.Timestamp("2026-06-15", tz="UTC")

CATALOG = {
    "call": Action(label="call", save_rate=0.3, offer_cost=10, contact_cost=5, channel="phone",
                   instead="mail"),
    "mail": Action(label="mail", save_rate=0.15, offer_cost=10, contact_cost=0.1,
                   channel="email"),
    "gift": Action(label="gift", save_rate=0.3, offer_cost=20, contact_cost=1),
    "nudge": Action(label="nudge", save_rate=0.05, offer_cost=0, contact_cost=0.1),
}  # fmt: skip


def decisions(**changes) -> Decisions:
    settings = {
        "actions": CATALOG,
        "high": {"default": "call", "value:high": "gift"},
        "medium": {"default": "nudge"},
        "budget": Budget(share=0.05),
        **changes,
    }
    return Decisions(**settings)


def explained(n: int, seed: int = 0) -> pd.DataFrame:
    """A day's explained rows: random risk and value, a mix of top reasons."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:06d}" for i in range(n)],
            "as_of": AS_OF,
            "churn_probability": rng.beta(1, 6, n),
            "value": rng.gamma(2.0, 150.0, n),
            "reason_1": "words",
            "reason_2": None,
            "reason_3": None,
            "reason_1_contribution": 0.5,
            "reason_2_contribution": np.nan,
            "reason_3_contribution": np.nan,
            "protective_factor": None,
            "protective_contribution": np.nan,
            "model_version": "1",
            "reason_1_family": rng.choice(["support", "value", "activity", None], n),
            "reason_1_direction": rng.choice(["high", "low"], n),
        }
    )


def test_tiers_follow_expected_profit_within_the_budget():
    rows = explained(4000)
    settings = decisions()
    scores = decide_day(rows, settings, AS_OF)
    high = scores["tier"] == "high"
    assert 0 < high.sum() <= 0.05 * len(rows)
    assert (scores.loc[high, "expected_profit"] > 0).all()
    # The high tier holds the best expected profits of the high actions: no customer outside
    # it would have earned more with its high action.
    p, v = rows["churn_probability"], rows["value"]
    action = np.where(
        (rows["reason_1_family"] == "value") & (rows["reason_1_direction"] == "high"),
        "gift",
        "call",
    )
    cost = pd.Series(action).map(lambda a: CATALOG[a].offer_cost + CATALOG[a].contact_cost)
    rate = pd.Series(action).map(lambda a: CATALOG[a].save_rate)
    high_profit = p * v * rate - cost
    assert high_profit[~high].max() <= high_profit[high].min()
    medium = scores["tier"] == "medium"
    assert (scores.loc[medium, "expected_profit"] > 0).all()
    assert medium.sum() > 0


def test_other_never_gets_an_action_and_control_rows_get_none():
    scores = decide_day(explained(5000), decisions(), AS_OF)
    other = scores[scores["tier"] == "other"]
    assert len(other) > 0
    assert (other["action"] == NO_ACTION).all()
    assert not other["control"].any()
    assert (other["expected_profit"] == 0).all()
    control = scores[scores["control"]]
    assert len(control) > 0
    assert (control["action"] == CONTROL_ACTION).all()
    treated = scores[(scores["tier"] != "other") & ~scores["control"]]
    assert not treated["action"].isin([NO_ACTION, CONTROL_ACTION]).any()


def test_the_action_follows_the_reasons_family_and_direction():
    family = pd.Series(["value", "value", "support", None])
    direction = pd.Series(["high", "low", "high", None])
    table = {"default": "call", "value": "nudge", "value:high": "gift"}
    assert list(planned_actions(family, direction, table)) == ["gift", "nudge", "call", "call"]


def test_no_action_needing_a_channel_goes_without_its_consent():
    rows = explained(6000, seed=3)
    customers = pd.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "phone_ok": np.resize(["yes", "no", None, "TRUE", "0"], len(rows)),
            "email_ok": np.resize([True, False, True], len(rows)),
        }
    )
    settings = decisions(consent={"phone": "phone_ok", "email": "email_ok"})
    consent = consent_matrix(customers, settings)
    scores = decide_day(rows, settings, AS_OF, consent).set_index("customer_id")
    labels = {a.label: a for a in CATALOG.values()}
    acted = scores[scores["action"].isin(labels)]
    assert {"call", "mail"} <= set(acted["action"])  # both channels are used...
    for channel in ("phone", "email"):
        needs = acted["action"].map(lambda label, c=channel: labels[label].channel == c)
        allowed = consent.loc[acted.index, channel]
        assert allowed[needs].all()  # ...only with consent
    # Without phone consent a high customer gets the consent-free alternative, not nothing.
    refused = ~consent.loc[scores.index, "phone"] & consent.loc[scores.index, "email"]
    high = scores["tier"] == "high"
    assert (scores.loc[high & refused & ~scores["control"], "action"] != "call").all()


def test_control_share_per_tier_is_stable_across_reruns_and_nights_of_a_period():
    rows = explained(20_000, seed=7)
    settings = decisions(budget=Budget(share=0.3), control_share=0.1, campaign_days=7)
    first = decide_day(rows, settings, AS_OF)
    for tier in ("high", "medium"):
        share = first.loc[first["tier"] == tier, "control"].mean()
        assert abs(share - 0.1) <= 0.02, (tier, share)
    again = decide_day(rows.sample(frac=1, random_state=1), settings, AS_OF)
    again = again.set_index("customer_id").loc[first["customer_id"]]
    assert (again["control"].to_numpy() == first["control"].to_numpy()).all()
    # 2026-06-15 is a Monday, the first day of its 7-day period (Monday to Sunday).
    assert campaign_period(AS_OF - pd.Timedelta(days=1), settings) + 1 == campaign_period(
        AS_OF, settings
    )
    assert campaign_period(AS_OF + pd.Timedelta(days=6), settings) == campaign_period(
        AS_OF, settings
    )
    same_period = decide_day(rows, settings, AS_OF + pd.Timedelta(days=1))
    assert (same_period["control"] == first["control"]).all()
    next_period = decide_day(rows, settings, AS_OF + pd.Timedelta(days=7))
    assert (next_period["control"] != first["control"]).any()


def test_a_count_budget_caps_the_high_tier():
    scores = decide_day(explained(3000), decisions(budget=Budget(count=25)), AS_OF)
    assert (scores["tier"] == "high").sum() == 25


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"high": {"support": "call"}}, "needs a 'default'"),
        ({"medium": {"default": "fax"}}, "unknown action"),
        (
            {
                "actions": {
                    **CATALOG,
                    "call": CATALOG["call"].model_copy(update={"instead": "call"}),
                }
            },
            "same channel",
        ),
        (
            {
                "actions": {
                    **CATALOG,
                    "mail": CATALOG["mail"].model_copy(update={"instead": "call"}),
                }
            },
            r"call -> mail -> call goes round in a circle",
        ),
        ({"consent": {"Phone": "phone_ok"}}, r"consent\.Phone: no action .* channel 'Phone'"),
    ],
)
def test_config_refuses_inconsistent_decisions(changes, message):
    with pytest.raises(ValueError, match=message):
        decisions(**changes)


def test_budget_needs_exactly_one_kind():
    with pytest.raises(ValueError, match="exactly one"):
        Budget(share=0.1, count=10)


def test_old_tier_thresholds_are_told_where_they_went(tmp_path):
    text = (load_config_text() + "\n").replace(
        "scoring:\n", "scoring:\n  tiers: {high_expected_loss: 60, medium_expected_loss: 20}\n"
    )
    path = tmp_path / "old.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"scoring.tiers: moved to decisions"):
        load_config(path)


def load_config_text() -> str:
    from features.config import DEFAULT_CONFIG

    return DEFAULT_CONFIG.read_text()


# ---------- profit on labelled rows ----------


def test_empc_with_a_certain_save_rate_is_the_best_point_of_the_curve():
    label = np.array([1, 0, 1, 0, 0], dtype=float)
    value = np.array([100.0, 50.0, 10.0, 80.0, 30.0])
    action = Action(label="x", save_rate=1.0, offer_cost=5, contact_cost=1)
    order = np.array([0, 3, 2, 1, 4])
    # Cumulative y*v - 6 in that order: 94, 88, 92, 86, 80 -> best 94 (contact only the first).
    assert empc(label, value, order, action) == pytest.approx(94 / 5)


def test_profit_curve_and_policy_by_hand():
    label = np.array([1, 0, 1, 0], dtype=float)
    probability = np.array([0.9, 0.1, 0.5, 0.2])
    value = np.array([100.0, 100.0, 10.0, 10.0])
    settings = Decisions(
        actions={"call": Action(label="call", save_rate=0.5, offer_cost=1, contact_cost=1),
                 "nudge": Action(label="nudge", save_rate=0.1, offer_cost=0, contact_cost=0.1)},
        high={"default": "call"}, medium={"default": "nudge"}, budget=Budget(count=1),
    )  # fmt: skip
    curve, order = profit_curve(label, probability, value, settings)
    assert list(order[:2]) == [0, 1]  # expected profits 43, 3, 0.5, -1
    assert curve["profit"].iloc[0] == 0 and curve["customers"].iloc[-1] == 4
    # Everyone with the call: 48 - 2 + 3 - 2 = 47.
    result = profit_evaluation(label, probability, value, settings)
    assert result["contact_everyone"] == pytest.approx(47.0)
    # Budget 1: customer 0 called (48); medium nudge where 0.1 p v - 0.1 > 0: customers 1
    # (0.9), 2 (0.4) and 3 (0.1), realised 0 - 0.1, 1 - 0.1 and 0 - 0.1.
    assert result["budget"] == pytest.approx(48 - 0.1 + 0.9 - 0.1)
    assert result["tiers"]["high"]["customers"] == 1
    assert result["contact_nobody"] == 0.0


def test_the_call_list_ranks_by_profit_and_leaves_out_control_and_other():
    from models.decisions import call_list

    scores = decide_day(explained(5000, seed=11), decisions(budget=Budget(share=0.2)), AS_OF)
    listed = call_list(scores, None, "EUR")
    acted = scores[(scores["tier"] != "other") & ~scores["control"]]
    assert len(listed) == len(acted) and len(listed) < len(scores)
    assert not listed["customer_id"].isin(scores.loc[scores["control"], "customer_id"]).any()
    assert listed["expected_profit"].is_monotonic_decreasing
    assert (listed["currency"] == "EUR").all()
    assert list(call_list(scores, 10, "EUR")["customer_id"]) == list(listed["customer_id"][:10])


def test_a_day_scored_before_decisions_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    from features.errors import ChurnError
    from pipelines.export import run_export

    day = tmp_path / "scores" / "as_of=2026-06-15"
    day.mkdir(parents=True)
    old = decide_day(explained(20), decisions(), AS_OF).drop(columns=["expected_profit", "control"])
    old.to_parquet(day / "part-00000.parquet", index=False)
    out = tmp_path / "calls.csv"
    with pytest.raises(ChurnError, match=r"2026-06-15 was scored before decisions.*churn score"):
        run_export(tmp_path, out, load_config())
    assert not out.exists()


def test_subscription_value_is_price_times_expected_months_of_the_next_periods():
    from models.tiers import SubscriptionValue

    value = SubscriptionValue("plan_price", periods=12)
    frame = pd.DataFrame({"plan_price": [20.0, 20.0, 10.0, np.nan]})
    got = value(frame, np.array([0.0, 1.0, 0.5, 0.1]))
    # p = 0: all 12 months; p = 1: none; p = 0.5: 10 x (0.5 + 0.25 + ...) = 10 x (1 - 0.5^12).
    assert got[:3] == pytest.approx([240.0, 0.0, 10 * (1 - 0.5**12)])
    assert got[3] == 0.0  # no price, no value
    # With the typical customer's churn, a customer's own risk no longer shrinks their value.
    kept = SubscriptionValue("plan_price", periods=12, retained_churn=0.5)
    assert kept(frame, np.array([0.0, 1.0, 0.5, 0.1]))[:3] == pytest.approx(
        [20 * (1 - 0.5**12), 20 * (1 - 0.5**12), 10 * (1 - 0.5**12)]
    )


def test_a_misspelt_reason_key_is_refused_not_silently_defaulted():
    with pytest.raises(ValueError, match=r"\['suport', 'value:hgih'\] name no reason family"):
        decisions(high={"default": "call", "suport": "call", "value:hgih": "gift"})
