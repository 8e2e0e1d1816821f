"""Hand-computed expectations for every feature builder on a tiny fixture at one cutoff.

Cutoff 2024-06-01 00:00 UTC, lookback 365 days, the default config's event names.
Customer "a" carries every signal; "b" has none before the cutoff and cancels after it;
"c" cancelled before the cutoff; "d" signs up exactly at the cutoff; "e" cancels exactly at it.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.config import load_config
from features.matrix import build_matrix, feature_columns
from features.registry import available_builders, feature_family
from tests.fixtures.feature_fixtures import CUTOFF, customers_frame, events_frame, in_memory_dataset

CUSTOMERS = [
    ("a", "2024-01-01", "basic", "DE", 10.0),
    ("b", "2024-03-01", "premium", "FR", 40.0),
    ("c", "2024-01-01", "basic", "DE", 10.0),
    ("d", "2024-06-01", "basic", "DE", 10.0),
    ("e", "2024-02-01", "basic", "FR", 10.0),
]

EVENTS = [
    # web journey of "a"
    ("a", "2024-05-31T10:00:00", "faq_view", None, "s1"),
    ("a", "2024-05-31T10:30:00", "cancel_page_view", None, "s2"),  # exactly 30 min later: counts
    ("a", "2024-05-20T12:00:00", "faq_view", None, "s3"),
    ("a", "2024-05-20T12:31:00", "cancel_page_view", None, "s4"),  # 31 min, new session: no
    ("a", "2024-05-10T08:00:00", "cancel_page_view", None, "s6"),  # cancel before faq: no
    ("a", "2024-05-10T08:05:00", "faq_view", None, "s6"),
    ("a", "2024-04-10T09:00:00", "faq_view", None, "s5"),
    ("a", "2024-04-10T11:00:00", "cancel_page_view", None, "s5"),  # same session, 2 h: counts
    ("a", "2024-02-01T00:00:00", "faq_view", None, "s7"),  # 121 days ago: lookback only
    ("a", "2024-06-01T00:00:00", "cancel_page_view", None, "s8"),  # at the cutoff: never
    # support
    ("a", "2024-05-28T00:00:00", "support_call", None, None),
    ("a", "2024-05-30T00:00:00", "support_chat", None, None),
    ("a", "2024-05-10T00:00:00", "support_call", None, None),
    ("a", "2024-03-01T00:00:00", "support_call", None, None),  # 92 days ago
    # activity
    ("a", "2024-05-31T23:00:00", "login", None, None),
    ("a", "2024-05-25T00:00:00", "login", None, None),  # exactly 7 days: day 6, inside 7d
    ("a", "2024-05-24T23:59:59", "page_view", None, None),  # 1 s more: day 7, outside 7d
    ("a", "2024-03-15T00:00:00", "login", None, None),
    # email
    ("a", "2024-04-20T00:00:00", "email_sent", None, None),
    ("a", "2024-05-05T00:00:00", "email_sent", None, None),
    ("a", "2024-05-06T00:00:00", "email_open", None, None),
    ("a", "2024-05-12T00:00:00", "email_sent", None, None),
    ("a", "2024-05-26T00:00:00", "email_sent", None, None),
    # value
    ("a", "2024-01-15T00:00:00", "payment", 10.0, None),
    ("a", "2024-04-15T00:00:00", "payment", 10.0, None),
    ("a", "2024-05-15T00:00:00", "payment", 10.0, None),
    ("a", "2024-06-01T00:00:00", "payment", 99.0, None),  # at the cutoff: label window only
    # labels and populations
    ("a", "2024-07-05T00:00:00", "login", None, None),  # after the horizon: observed_until
    ("b", "2024-06-10T00:00:00", "subscription_cancelled", None, None),
    ("c", "2024-05-01T00:00:00", "subscription_cancelled", None, None),
    ("e", "2024-06-01T00:00:00", "subscription_cancelled", None, None),
]

EXPECTED_A = {
    "faq_visits_7d": 1,
    "faq_visits_30d": 3,
    "faq_visits_90d": 4,
    "cancel_page_visits_7d": 1,
    "cancel_page_visits_30d": 3,
    "cancel_page_visits_90d": 4,
    "faq_then_cancel_30d": 1,
    "faq_then_cancel_90d": 2,
    "days_since_last_cancel_page": 13.5 / 24,
    "support_contacts_7d": 2,
    "support_contacts_30d": 3,
    "support_contacts_90d": 3,
    "support_spike_ratio_7d": (2 / 7) / ((3 - 2 + 1) / 30),
    "days_since_last_support_contact": 2.0,
    "days_since_last_activity": 1 / 24,
    "active_days_7d": 2,
    # Activity is logins and page views in the default config: days 0, 6 and 7, then day 77.
    "active_days_30d": 3,
    "active_days_90d": 4,
    "activity_trend_30d_vs_60d": 3 - 1 / 2,
    "emails_sent_30d": 3,
    "emails_opened_30d": 1,
    "email_open_rate_30d": 1 / 3,
    "unopened_email_streak": 2,
    "days_since_last_email_open": 26.0,
    "revenue_30d": 10.0,
    "revenue_90d": 20.0,
    "revenue_365d": 30.0,
    "purchases_365d": 3,
    "average_order_value_365d": 10.0,
    "tenure_days": 152.0,
    "plan_price": 10.0,
}

# "b" has no events before the cutoff: counts are 0, "days since" and ratios are missing.
EXPECTED_B_MISSING = {
    "days_since_last_cancel_page",
    "days_since_last_support_contact",
    "days_since_last_activity",
    "email_open_rate_30d",
    "days_since_last_email_open",
    "average_order_value_365d",
}


@pytest.fixture(scope="module")
def matrix() -> pd.DataFrame:
    cfg = load_config()
    dataset = in_memory_dataset(customers_frame(CUSTOMERS), events_frame(EVENTS))
    return build_matrix(dataset, cfg, [CUTOFF]).set_index("customer_id")


def test_every_builder_has_a_hand_computed_expectation():
    cfg = load_config()
    numeric = [n for n in cfg.features.builders if n != "profile_attributes"]
    assert sorted(numeric) == sorted(EXPECTED_A)
    assert set(available_builders()) >= set(cfg.features.builders)


@pytest.mark.parametrize("name", sorted(EXPECTED_A))
def test_builder_value_for_the_full_customer(matrix, name):
    assert matrix.loc["a", name] == pytest.approx(EXPECTED_A[name], rel=1e-9)


@pytest.mark.parametrize("name", sorted(EXPECTED_A))
def test_builder_value_for_a_customer_without_events(matrix, name):
    value = matrix.loc["b", name]
    if name in EXPECTED_B_MISSING:
        assert math.isnan(value)
    elif name == "tenure_days":
        assert value == 92.0
    elif name == "plan_price":
        assert value == 40.0
    else:
        assert value == 0.0


def test_population_excludes_churned_and_not_yet_signed_up(matrix):
    # c cancelled before the cutoff; d signs up exactly at it (not before): both out.
    assert sorted(matrix.index) == ["a", "b", "e"]


def test_labels_use_the_horizon_after_the_cutoff(matrix):
    assert matrix.loc["a", "churned"] == 0.0
    assert matrix.loc["b", "churned"] == 1.0
    # A cancellation exactly at the cutoff is in the label window, not in the past.
    assert matrix.loc["e", "churned"] == 1.0


def test_profile_attributes_are_categories(matrix):
    assert isinstance(matrix["plan"].dtype, pd.CategoricalDtype)
    assert matrix.loc["b", "plan"] == "premium"
    assert matrix.loc["a", "country"] == "DE"


def test_every_feature_has_a_family(matrix):
    cfg = load_config()
    profile = cfg.features.profile_columns
    families = {feature_family(n, profile) for n in feature_columns(matrix.reset_index())}
    assert families == {"web_journey", "support", "activity", "email", "value", "profile"}


def test_unmapped_family_yields_no_columns():
    cfg = load_config()
    no_web = cfg.model_copy(
        update={"signals": cfg.signals.model_copy(update={"faq_page": [], "cancel_page": []})}
    )
    dataset = in_memory_dataset(customers_frame(CUSTOMERS), events_frame(EVENTS))
    columns = set(build_matrix(dataset, no_web, [CUTOFF]).columns)
    assert not {c for c in columns if "faq" in c or "cancel" in c}
    assert "support_contacts_7d" in columns


def test_unknown_builder_fails_at_load(tmp_path):
    from features.errors import ConfigError

    text = load_config().model_dump(mode="json")
    text["features"]["builders"].append("support_calls_per_fortnight")
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(text))
    with pytest.raises(ConfigError, match="support_calls_per_fortnight"):
        load_config(path)
