"""The churn-drivers report's numbers and HTML on small frames (no model, no browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import Action, load_config
from models.explain import ReasonBook, ReasonTemplates
from reporting import html as page
from reporting import numbers
from reporting.actions import waterfall_bars
from reporting.history import backtest_section, health_section
from reporting.sections import ReportInputs, summary_section
from reporting.words import churn_definition, money


def scores_frame() -> pd.DataFrame:
    """Six scored customers following the scores contract."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(6)],
            "as_of": pd.Timestamp("2026-07-01", tz="UTC"),
            "churn_probability": [0.9, 0.6, 0.5, 0.1, 0.05, 0.02],
            "value": [200.0, 100.0, 80.0, 300.0, 20.0, 10.0],
            "expected_loss": [180.0, 60.0, 40.0, 30.0, 1.0, 0.2],
            "expected_profit": [40.0, 7.0, 2.0, 0.0, 0.0, 0.0],
            "tier": ["high", "high", "medium", "other", "other", "other"],
            "control": [False, True, False, False, False, False],
            "reason_1": ["support spike", "cancel page", "support spike", "x", "y", "z"],
            "reason_2": ["cancel page", "support spike", None, "x", "y", "z"],
            "reason_3": ["inactive", None, None, None, None, None],
            "reason_1_contribution": [1.0, 0.8, 0.5, 0.1, 0.1, 0.1],
            "reason_2_contribution": [0.5, 0.2, np.nan, 0.1, 0.1, 0.1],
            "reason_3_contribution": [0.1, np.nan, np.nan, np.nan, np.nan, np.nan],
            "action": ["call", "none (control)", "email", "none", "none", "none"],
            "model_version": "churn/1",
        }
    )


def test_tier_summary_has_all_three_tiers_even_when_one_is_empty():
    scores = scores_frame()
    scores = scores[scores["tier"] != "medium"]
    table = numbers.tier_summary(scores)
    assert list(table.index) == ["high", "medium", "other"]
    assert table["customers"].tolist() == [2, 0, 3]
    assert table.at["high", "expected_revenue_at_risk"] == 240.0
    assert table.at["other", "total_value"] == 330.0
    assert table["share"].sum() == pytest.approx(1.0)


def test_reason_and_action_counts_per_tier():
    scores = scores_frame()
    reasons = numbers.reason_counts(scores, "high").set_index("reason")
    # Each high-tier customer names both; "inactive" only one of them.
    assert reasons.loc["support spike", "customers"] == 2
    assert reasons.loc["cancel page", "share"] == 1.0
    assert reasons.loc["inactive", "customers"] == 1
    actions = numbers.action_counts(scores, "high").set_index("action")
    assert actions["customers"].to_dict() == {"call": 1, "none (control)": 1}


def test_tier_summary_counts_the_control_group_and_expected_profit():
    table = numbers.tier_summary(scores_frame())
    assert table["control"].tolist() == [1, 0, 0]
    assert table.at["high", "expected_profit"] == 40.0  # the control customer's 7 not counted


def test_action_table_per_tier_leaves_out_other():
    table = numbers.action_table(scores_frame())
    assert table[["tier", "action", "customers"]].astype(str).values.tolist() == [
        ["high", "call", "1"],
        ["high", "none (control)", "1"],
        ["medium", "email", "1"],
    ]


def test_lift_and_calibration_tables_by_hand():
    label = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 0], dtype=float)
    probability = np.linspace(0.9, 0.0, 10)  # already sorted riskiest first
    lift = numbers.lift_table(label, probability, steps=5)
    # Top 20% = 2 rows, both churners, of 3 in all: capture 2/3, lift 1.0 / 0.3.
    assert lift.at[0, "capture"] == pytest.approx(2 / 3)
    assert lift.at[0, "lift"] == pytest.approx(1 / 0.3)
    assert lift.at[4, "capture"] == pytest.approx(1.0)
    assert lift.at[4, "lift"] == pytest.approx(1.0)
    calibration = numbers.calibration_table(label, probability, bins=2)
    assert calibration["rows"].tolist() == [5, 5]
    assert calibration["observed_rate"].tolist() == [0.2, 0.4]


def test_mean_abs_shap_by_family_sums_within_family_first():
    contributions = pd.DataFrame({"a": [1.0, -1.0], "b": [-1.0, 1.0], "c": [0.5, -0.5]})
    families = {"a": "support", "b": "support", "c": "email"}
    # a and b cancel inside the family on every row: the family moves nothing.
    assert numbers.mean_abs_by_family(contributions, families).to_dict() == {
        "email": 0.5,
        "support": 0.0,
    }
    assert numbers.mean_abs_by_feature(contributions, list(families)).index[0] in {"a", "b"}


def test_html_escapes_text_and_embeds_images():
    frame = pd.DataFrame({"x": ["<script>alert(1)</script>"]}, index=["row"])
    html = page.render(
        "t", "s", [page.Section("a", "A").add(page.table(frame), page.image(b"\x89PNG", "p"))]
    )
    assert "<script>" not in html
    assert 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html


def test_audience_ranks_by_expected_profit_and_prices_the_left_out():
    scores = scores_frame()
    # The job's profits for high and medium; tier other priced with a 0.5 save rate, costs 1.
    fallback = Action(label="call", save_rate=0.5, offer_cost=0.5, contact_cost=0.5)
    curve = numbers.audience_curve(scores, fallback)
    # Other: 0.1 x 300 x 0.5 - 1 = 14 (C3), 0.05 x 20 x 0.5 - 1 = -0.5, 0.02 x 10 x 0.5 - 1 = -0.9.
    assert curve["expected_profit"].tolist() == pytest.approx([40.0, 54.0, 61.0, 63.0, 62.5, 61.6])
    assert curve["churners_reached"].tolist() == pytest.approx([0.9, 1.0, 1.6, 2.1, 2.15, 2.17])
    assert curve.at[1, "precision"] == pytest.approx(0.5)
    assert curve["churners_share"].iloc[-1] == pytest.approx(1.0)
    # Without a fallback the job's 0 stands, ties broken by customer id.
    assert numbers.audience_curve(scores)["expected_profit"].iloc[-1] == pytest.approx(49.0)
    sizes = numbers.audience_sizes(6, (0.2, 0.5), budget=3)
    assert sizes == {"top 20%": 1, "top 50% (budget)": 3}
    table = numbers.audience_table(curve, {**sizes, "all": 99})
    assert list(table.index) == ["top 20%", "top 50% (budget)", "all"]
    assert table["contacted"].tolist() == [1, 3, 6]
    assert numbers.audience_sizes(100, (0.01,), budget=5) == {"top 1%": 1, "budget": 5}


def manifest_entry(day: str, high: int, drift: dict, **extra) -> dict:
    tiers = {
        tier: {"customers": n, "control": 0, "revenue_at_risk": 10.0 * n, "value": 0.0,
               "expected_profit": 2.0 * n}
        for tier, n in (("high", high), ("medium", 5), ("other", 20))
    }  # fmt: skip
    return {
        "as_of": day, "rows": high + 25, "tiers": tiers, "drift": drift,
        "mean_churn_probability": 0.1, **extra,
    }  # fmt: skip


def test_nights_frame_reads_tiers_drift_and_feed_from_the_manifests():
    nights = numbers.nights_frame(
        [
            manifest_entry("2026-06-30", 3, {"status": "ok"}),
            manifest_entry(
                "2026-07-01",
                4,
                {"status": "fail", "allowed": True, "retrain_recommended": True},
                data_quality={"duplicate_events_dropped": 2, "unknown_customer_events_dropped": 1},
                feed={"status": "warn"},
            ),
        ]
    )
    assert list(nights.index) == ["2026-06-30", "2026-07-01"]
    assert nights["high"].tolist() == [3, 4]
    assert nights["customers"].tolist() == [28, 29]
    assert nights.at["2026-07-01", "revenue_at_risk"] == pytest.approx(290.0)
    assert nights.at["2026-07-01", "expected_profit"] == pytest.approx(58.0)
    assert nights["drift"].tolist() == [
        "ok",
        "failed, published with --allow-drift; retrain recommended",
    ]
    assert nights["feed"].tolist() == ["passed", "warn"]
    assert nights["events_dropped"].tolist() == [0, 3]
    unchecked = numbers.nights_frame([manifest_entry("2026-06-30", 1, {})], feed_checked=False)
    assert unchecked["feed"].tolist() == ["not checked (no event feed)"]
    assert numbers.nights_frame([]).empty


def reason_book() -> ReasonBook:
    names = ["support_contacts_30d", "faq_then_cancel_30d", "revenue_30d", "plan"]
    return ReasonBook.build(names, load_config(), categorical=["plan"])


def test_drivers_group_by_family_and_template_not_by_count():
    book = reason_book()
    templates = ReasonTemplates(book)
    faq = [book.words(1, n) for n in (4, 5, 1)]
    assert faq[0] != faq[1]
    scores = scores_frame().assign(
        reason_1=[faq[0], faq[1], faq[2], None, None, None],
        reason_2=[book.words(0, 3), book.words(0, 0), "plan is basic", None, None, None],
        reason_3=[book.words(2, 34.99), "plan is premium", None, None, None, None],
        tier=["high", "high", "high", "other", "other", "other"],
    )
    groups = numbers.driver_groups(scores, "high", templates.of)
    counted = dict(zip(groups["driver"], groups["customers"], strict=True))
    faq_words = templates.of(faq[0]).words
    assert "N" in faq_words and "4" not in faq_words
    assert counted[faq_words] == 3  # once, 4 and 5 times: one driver
    assert groups.iloc[0]["driver"] == faq_words and groups.iloc[0]["share"] == 1.0
    # A count and its zero sentence are two templates; categories keep their value.
    assert counted[templates.of(book.words(0, 3)).words] == 1
    assert counted[book.words(0, 0)] == 1
    assert counted["plan is basic"] == 1 and counted["plan is premium"] == 1
    assert templates.of(book.words(2, 34.99)).words == "paid $N in the last 30 days"
    assert templates.of("plan is basic").family == "profile"
    # A sentence of an older wording is its own driver, its numbers as N.
    assert templates.of("bought 3 hats").words == "bought N hats"


def test_every_wording_maps_back_to_its_family():
    cfg = load_config()
    from features.registry import available_builders

    names = [n for n in cfg.features.builders if n != "profile_attributes"]
    assert set(names) <= set(available_builders())
    book = ReasonBook.build(names, cfg)
    templates = ReasonTemplates(book)
    for j, name in enumerate(book.names):
        family = book.families[book.feature_family_index[j]]
        groups = set()
        for value in (0.0, 1.0, 3.0, 4.0, 2.5, 61.0, np.nan):
            found = templates.of(book.words(j, value))
            assert found.family == family, (name, value, found)
            groups.add(found.words)
        # 3 and 4 read as one template: counts do not split a driver.
        assert templates.of(book.words(j, 3.0)) == templates.of(book.words(j, 4.0)), name


def test_waterfall_adds_up_from_the_bias_to_the_customers_probability():
    def sigmoid(raw):
        return 1 / (1 + np.exp(-np.asarray(raw, dtype=float)))

    row = pd.Series(
        {"a1": 0.6, "a2": 0.2, "b": 0.5, "c": 0.1, "d": 0.05, "e": -0.3, "f": -0.7, "bias": -2.0}
    )
    families = {"a1": "support", "a2": "support", "b": "web", "c": "email", "d": "value",
                "e": "activity", "f": "profile"}  # fmt: skip
    steps = numbers.waterfall_steps(row, families, sigmoid, up=2)
    assert steps["kind"].tolist() == ["start", "up", "up", "rest", "down"]
    assert steps["family"].tolist() == ["", "support", "web", "", "profile"]
    # The rest: email 0.1 + value 0.05 + activity -0.3 together.
    assert steps["log_odds"].tolist() == pytest.approx([-2.0, 0.8, 0.5, -0.15, -0.7])
    total = row.sum()
    assert steps["raw_score"].iloc[-1] == pytest.approx(total)
    assert steps["probability"].iloc[-1] == pytest.approx(sigmoid(total))
    assert steps["probability"].iloc[0] == pytest.approx(sigmoid(-2.0))
    assert np.isnan(steps["probability_before"].iloc[0])
    assert steps["probability_before"].iloc[1:].tolist() == pytest.approx(
        steps["probability"].iloc[:-1].tolist()
    )
    bars = waterfall_bars(steps)
    assert [b[0] for b in bars] == [
        "typical customer", "support", "web", "other signals", "profile", "churn risk",
    ]  # fmt: skip
    assert bars[-1][3] == pytest.approx(sigmoid(total))
    assert bars[1][1] == "up" and bars[4][1] == "down"


def test_segments_show_risk_and_tier_mix_per_value():
    scores = scores_frame()
    profiles = pd.DataFrame(
        {"customer_id": ["C0", "C1", "C2", "C3", "C4"], "plan": ["a", "a", "b", "b", "b"]}
    )
    table = numbers.segment_table(scores, profiles, "plan", top=1, smallest=1)
    # a (2) and the customer with no profile (unknown) go together, last.
    assert list(table.index) == ["b", "all other values"]
    assert table.at["b", "customers"] == 3
    assert table.at["b", "medium_share"] == pytest.approx(1 / 3)
    assert table.at["all other values", "high_share"] == pytest.approx(2 / 3)
    assert table.at["b", "mean_churn_probability"] == pytest.approx((0.5 + 0.1 + 0.05) / 3)


def test_words_money_currency_and_churn_definition():
    assert money(1234.4, "USD") == "$1,234"
    assert money(-5.5, "EUR", cents=True) == "-€5.50"
    assert money(12, "CHF") == "CHF 12"
    assert money(float("nan"), "USD") == "—"
    cfg = load_config()
    assert churn_definition(cfg) == (
        "a customer churns when they send a subscription_cancelled event within 30 days after "
        "the cutoff"
    )
    lapsed = cfg.churn.model_copy(update={"source": "inactivity", "inactive_days": 182})
    assert churn_definition(cfg.model_copy(update={"churn": lapsed})) == (
        "a customer churns when they are inactive for 182 days"
    )
    given = cfg.churn.model_copy(update={"source": "labels"})
    assert "labels table" in churn_definition(cfg.model_copy(update={"churn": given}))


def test_health_and_summary_say_a_failed_night_was_published_with_allow_drift():
    drift = {
        "status": "fail", "allowed": True, "failed": ["support_contacts_30d", "score"],
        "previous_night": "2026-06-30", "shifts": {"support_contacts_30d": 0.3},
        "night_shifts": {"support_contacts_30d": 0.31}, "features": {},
    }  # fmt: skip
    inputs = ReportInputs(scores=scores_frame(), cfg=load_config(), manifest={"drift": drift})
    labels = {"support_contacts_30d": "support contacts in the last 30 days"}
    health = page.render("t", "", [health_section(inputs, labels)])
    assert "published anyway with --allow-drift" in health
    assert "support contacts in the last 30 days" in health
    assert "support_contacts_30d" not in health
    summary = page.render("t", "", [summary_section(inputs, pd.Timestamp("2026-07-01"))])
    assert "--allow-drift" in summary
    drift_ok = {**drift, "status": "ok", "allowed": False, "failed": []}
    quiet = ReportInputs(scores=scores_frame(), cfg=load_config(), manifest={"drift": drift_ok})
    assert "--allow-drift" not in page.render("t", "", [health_section(quiet, labels)])


def test_backtest_section_without_a_ledger_says_how_to_make_one():
    inputs = ReportInputs(
        scores=scores_frame(), cfg=load_config(), ledger_hint="run churn backtest"
    )
    html = page.render("t", "", [backtest_section(inputs)])
    assert 'id="backtest"' in html and "run churn backtest" in html


def test_tables_scroll_inside_their_box_and_numbers_do_not_wrap():
    frame = pd.DataFrame({"n": [1.5], "t": ["words"]}, index=["row"])
    html = page.table(frame, table_id="x", widths=["5em", "3em", None])
    assert html.startswith('<div class="scroll"><table id="x" class="fixed"><colgroup>')
    assert '<td class="n">1.50</td>' in html and "<td>words</td>" in html


def test_segments_fold_groups_smaller_than_the_minimum_into_all_other_values():
    scores = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(25)], "churn_probability": 0.1,
         "tier": "other", "expected_loss": 1.0}
    )  # fmt: skip
    plans = ["basic"] * 12 + ["plus"] * 10 + ["vip"] * 3
    profiles = pd.DataFrame({"customer_id": scores["customer_id"], "plan": plans})
    table = numbers.segment_table(scores, profiles, "plan")
    assert table["customers"].to_dict() == {"basic": 12, "plus": 10, "all other values": 3}
