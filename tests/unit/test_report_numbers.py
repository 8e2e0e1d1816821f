"""The churn-drivers report's numbers and HTML on small frames (no model, no browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reporting import html as page
from reporting import numbers


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
    assert table.at["high", "expected_profit"] == 47.0


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
