"""Hand-computed values for the features that carry over to an older cohort (CDNOW's config):
recency as a share of the customer's own history, purchases and spend per month of it.

Cutoff 2024-06-01 00:00 UTC, lookback 365 days, the default config's event names
(activity: login, page_view; payment: payment).
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import Config, load_config
from features.matrix import build_matrix
from tests.fixtures.feature_fixtures import CUTOFF, customers_frame, events_frame, in_memory_dataset

BUILDERS = ["activity_recency_share", "purchases_per_month", "revenue_per_month"]
MONTH = 30.4375

CUSTOMERS = [
    ("a", "2024-01-01", "basic", "DE", 10.0),
    ("b", "2024-05-01", "basic", "DE", 10.0),
    ("c", "2024-01-01", "basic", "DE", 10.0),
]

EVENTS = [
    # "a": active 100 and 10 days before the cutoff; paid 90 and 30 days before it.
    ("a", "2024-02-22T00:00:00", "login", None, None),
    ("a", "2024-05-22T00:00:00", "page_view", None, None),
    ("a", "2024-03-03T00:00:00", "payment", 20.0, None),
    ("a", "2024-05-02T00:00:00", "payment", 40.0, None),
    ("a", "2024-06-01T00:00:00", "login", None, None),  # at the cutoff: never a feature
    ("a", "2024-06-01T00:00:00", "payment", 99.0, None),
    ("a", "2023-05-01T00:00:00", "payment", 500.0, None),  # before the 365-day lookback
    # "b": one login and one payment, 10 days before the cutoff: less than a month of history.
    ("b", "2024-05-22T00:00:00", "login", None, None),
    ("b", "2024-05-22T00:00:00", "payment", 15.0, None),
    # "c": nothing before the cutoff.
]


@pytest.fixture(scope="module")
def matrix() -> pd.DataFrame:
    raw = load_config().model_dump()
    raw["features"]["builders"] = BUILDERS
    cfg = Config.model_validate(raw)
    dataset = in_memory_dataset(customers_frame(CUSTOMERS), events_frame(EVENTS))
    return build_matrix(dataset, cfg, [CUTOFF]).set_index("customer_id")


def test_recency_share_is_last_over_first_activity(matrix) -> None:
    assert matrix.loc["a", "activity_recency_share"] == pytest.approx(10 / 100)
    # One active day: the latest is the first, the whole history silent since.
    assert matrix.loc["b", "activity_recency_share"] == pytest.approx(1.0)
    assert pd.isna(matrix.loc["c", "activity_recency_share"])


def test_purchases_and_spend_per_month_of_payment_history(matrix) -> None:
    months = 90 / MONTH  # since the first payment in the lookback
    assert matrix.loc["a", "purchases_per_month"] == pytest.approx(2 / months)
    assert matrix.loc["a", "revenue_per_month"] == pytest.approx(60 / months)
    # Less than a month since the first payment counts as one month.
    assert matrix.loc["b", "purchases_per_month"] == pytest.approx(1.0)
    assert matrix.loc["b", "revenue_per_month"] == pytest.approx(15.0)
    # No payment in the lookback: no purchases a month.
    assert matrix.loc["c", "purchases_per_month"] == 0
    assert matrix.loc["c", "revenue_per_month"] == 0
