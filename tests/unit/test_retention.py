"""Retention KPIs against values computed by hand on eight customers over four months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reporting.retention import (
    cohort_retention,
    compare_periods,
    complete_months,
    month_start,
    monthly_kpis,
)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


UNTIL = ts("2025-04-01")


@pytest.fixture
def lifetimes() -> pd.DataFrame:
    # C is lost exactly at midnight on 1 February: lost in February, still there at January's end.
    # E signs up and leaves in January: new that month, never counted as lost.
    rows = [
        ("A", "2024-12-10", None),
        ("B", "2024-12-15", "2025-01-20"),
        ("C", "2024-12-20", "2025-02-01"),
        ("D", "2025-01-05", None),
        ("E", "2025-01-10", "2025-01-25"),
        ("F", "2025-02-03", "2025-03-15"),
        ("G", "2025-02-14", None),
        ("H", "2025-03-01", None),
    ]
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "signup_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "churned_at": pd.to_datetime([r[2] for r in rows], utc=True),
        }
    )


@pytest.fixture
def revenue() -> pd.DataFrame:
    paid = {
        "2024-12-01": {"A": 10, "B": 20, "C": 30},
        "2025-01-01": {"A": 10, "B": 20, "C": 30, "D": 15, "E": 5},
        "2025-02-01": {"A": 10, "D": 15, "F": 40, "G": 25},
        "2025-03-01": {"A": 10, "D": 15, "F": 40, "G": 25, "H": 50},
    }
    return pd.DataFrame(
        [
            {"customer_id": c, "month": ts(m), "revenue": float(v)}
            for m, by in paid.items()
            for c, v in by.items()
        ]
    )


def test_month_start_and_complete_months():
    assert month_start(pd.Series([ts("2025-02-28 23:59")])).iloc[0] == ts("2025-02-01")
    months = complete_months(ts("2024-12-10"), ts("2025-03-31"))
    # March ends on 1 April, after `until`: not complete, not reported.
    assert list(months) == [ts("2024-12-01"), ts("2025-01-01"), ts("2025-02-01")]


def test_monthly_counts_and_rates_by_hand(lifetimes, revenue):
    kpis = monthly_kpis(lifetimes, revenue, UNTIL).set_index("month")
    assert list(kpis.index) == [
        ts(m) for m in ("2024-12-01", "2025-01-01", "2025-02-01", "2025-03-01")
    ]
    assert kpis["customers_start"].tolist() == [0, 3, 3, 4]
    assert kpis["new_customers"].tolist() == [3, 2, 2, 1]
    assert kpis["lost_customers"].tolist() == [0, 1, 1, 1]
    assert kpis["customers_end"].tolist() == [3, 3, 4, 4]
    # No customers at the start of December: no rate rather than a division by zero.
    assert kpis["churn_rate"].isna().iloc[0]
    np.testing.assert_allclose(kpis["churn_rate"].iloc[1:], [100 / 3, 100 / 3, 25.0])
    # (end - new) / start: January (3 - 2) / 3, February (4 - 2) / 3, March (4 - 1) / 4.
    np.testing.assert_allclose(kpis["retention_rate"].iloc[1:], [100 / 3, 200 / 3, 75.0])


def test_revenue_churn_by_hand(lifetimes, revenue):
    kpis = monthly_kpis(lifetimes, revenue, UNTIL).set_index("month")
    # January: B's December 20 of A+B+C's 60; February: C's 30 of A+C+D's 55;
    # March: F's 40 of A+D+F+G's 90.
    assert kpis["revenue_start"].tolist() == [0.0, 60.0, 55.0, 90.0]
    assert kpis["revenue_lost"].tolist() == [0.0, 20.0, 30.0, 40.0]
    np.testing.assert_allclose(kpis["revenue_churn"].iloc[1:], [100 / 3, 3000 / 55, 400 / 9])


def test_compare_with_previous_month_and_year_before():
    months = pd.date_range("2024-01-01", periods=14, freq="MS", tz="UTC")
    rates = pd.Series(np.arange(14, dtype=float) * 2.0, index=months)
    rates = rates.drop(months[5])  # a gap: June 2024 has no value
    table = compare_periods(rates)
    feb_2025 = table.loc[ts("2025-02-01")]
    assert feb_2025["value"] == 26.0
    assert feb_2025["previous_month"] == 24.0
    assert feb_2025["change_vs_previous_month"] == 2.0
    assert feb_2025["same_month_last_year"] == 2.0
    assert feb_2025["change_vs_last_year"] == 24.0
    # The data does not reach a year back from mid-2024, and June 2024 is missing.
    assert np.isnan(table.loc[ts("2024-03-01"), "same_month_last_year"])
    assert np.isnan(table.loc[ts("2024-07-01"), "previous_month"])
    assert np.isnan(table.loc[ts("2024-01-01"), "previous_month"])


def test_cohort_retention_by_hand(lifetimes):
    table = cohort_retention(lifetimes, UNTIL, max_months=2)
    assert table["customers"].tolist() == [3, 2, 2, 1]
    expected = [
        [100.0, 200 / 3, 100 / 3],  # Dec cohort A, B, C: C is still there at 1 February
        [50.0, 50.0, 50.0],  # Jan cohort D, E
        [100.0, 50.0, np.nan],  # Feb cohort F, G: month 2 ends 1 May, after `until`
        [100.0, np.nan, np.nan],  # Mar cohort H
    ]
    np.testing.assert_allclose(table[[0, 1, 2]].to_numpy(), expected)
