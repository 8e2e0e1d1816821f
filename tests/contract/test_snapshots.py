"""Snapshots and labels: who is in the population at a cutoff and what their label is."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import Config, ValueSpec, load_config
from features.dataset import Dataset
from features.errors import ConfigError
from features.matrix import build_matrix, feature_columns
from features.snapshots import observed_until, training_cutoffs
from models.spec import FeatureSpec
from tests.fixtures.feature_fixtures import customers_frame, events_frame, in_memory_dataset, utc

CUSTOMERS = customers_frame(
    [
        ("a", "2024-01-01", "basic", "DE", 10.0),
        ("b", "2024-01-01", "basic", "DE", 10.0),
        ("c", "2024-01-01", "basic", "DE", 10.0),
    ]
)
# Purchases: "a" buys before and after the cutoff, "b" only before, "c" lapsed long ago.
PURCHASES = events_frame(
    [
        ("a", "2024-05-20T00:00:00", "payment", 5.0, None),
        ("a", "2024-06-15T00:00:00", "payment", 5.0, None),
        ("b", "2024-05-25T00:00:00", "payment", 5.0, None),
        ("c", "2024-01-10T00:00:00", "payment", 5.0, None),
        ("a", "2024-08-31T12:00:00", "payment", 5.0, None),  # last event: observed to 09-01
    ]
)


def _inactivity_config(active_within_days: int | str | None = None):
    cfg = load_config()
    return cfg.model_copy(
        update={
            "churn": cfg.churn.model_copy(
                update={"source": "inactivity", "events": [], "inactive_days": 60}
            ),
            "signals": cfg.signals.model_copy(update={"activity": ["payment"]}),
            "snapshots": cfg.snapshots.model_copy(
                update={"horizon_days": 60, "active_within_days": active_within_days}
            ),
        }
    )


def test_non_contractual_label_is_no_activity_in_the_horizon():
    cfg = _inactivity_config()
    matrix = build_matrix(in_memory_dataset(CUSTOMERS, PURCHASES), cfg, [utc("2024-06-01")])
    labels = matrix.set_index("customer_id")["churned"]
    # c has not bought in the 60 days before the cutoff: already lapsed, not in the snapshot.
    assert labels.to_dict() == {"a": 0.0, "b": 1.0}


def test_active_within_all_keeps_every_signed_up_customer():
    cfg = _inactivity_config("all")
    matrix = build_matrix(in_memory_dataset(CUSTOMERS, PURCHASES), cfg, [utc("2024-06-01")])
    assert matrix.set_index("customer_id")["churned"].to_dict() == {"a": 0.0, "b": 1.0, "c": 1.0}


def test_a_cutoff_whose_horizon_runs_past_the_data_is_unlabelled():
    cfg = _inactivity_config()
    dataset = in_memory_dataset(CUSTOMERS, PURCHASES)
    assert observed_until(dataset, cfg) == utc("2024-09-01")
    matrix = build_matrix(dataset, cfg, [utc("2024-07-10")])
    assert matrix["churned"].isna().all()


def test_training_cutoffs_end_at_the_last_fully_observed_horizon():
    cfg = _inactivity_config()
    cfg = cfg.model_copy(
        update={"snapshots": cfg.snapshots.model_copy(update={"every_days": 30, "count": 3})}
    )
    cutoffs = training_cutoffs(in_memory_dataset(CUSTOMERS, PURCHASES), cfg)
    # observed until 2024-09-01, horizon 60 days: the last labelled cutoff is 2024-07-03.
    assert cutoffs == [utc("2024-05-04"), utc("2024-06-03"), utc("2024-07-03")]


def test_no_labelled_cutoff_is_a_config_error():
    cfg = _inactivity_config()
    cfg = cfg.model_copy(
        update={
            "snapshots": cfg.snapshots.model_copy(update={"cutoffs": [utc("2024-08-01").date()]})
        }
    )
    with pytest.raises(ConfigError, match="horizon"):
        training_cutoffs(in_memory_dataset(CUSTOMERS, PURCHASES), cfg)


def test_given_labels_define_the_snapshot_and_its_split():
    cfg = load_config()
    cfg = cfg.model_copy(update={"churn": cfg.churn.model_copy(update={"source": "labels"})})
    base = in_memory_dataset(CUSTOMERS, PURCHASES)
    labels = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "as_of": pd.to_datetime(["2024-06-01", "2024-06-01"], utc=True).astype(
                "datetime64[us, UTC]"
            ),
            "churned": [True, False],
            "split": ["train", "test"],
        }
    )
    dataset = Dataset(
        base.con, base.customers, base.events, base.con.create_table("labels", labels), None
    )
    assert training_cutoffs(dataset, cfg) == [utc("2024-06-01")]
    matrix = build_matrix(dataset, cfg, [utc("2024-06-01")]).set_index("customer_id")
    assert matrix["churned"].to_dict() == {"a": 1.0, "b": 0.0}
    assert matrix["split"].to_dict() == {"a": "train", "b": "test"}


# Cutoff 2024-06-01 and a 60-day horizon: the revenue window is [2024-06-01, 2024-07-31).
REVENUE_EVENTS = events_frame(
    [
        ("a", "2024-05-31T23:59:59.999999", "payment", 1.0, None),  # before the cutoff: a feature
        ("a", "2024-06-01T00:00:00", "payment", 10.0, None),  # exactly at the cutoff: counts
        ("a", "2024-07-30T23:59:59.999999", "payment", 100.0, None),  # last instant inside
        ("a", "2024-07-31T00:00:00", "payment", 1000.0, None),  # exactly at the end: excluded
        ("a", "2024-06-10T00:00:00", "login", 5000.0, None),  # not a payment
        ("b", "2024-05-20T00:00:00", "payment", 7.0, None),  # b pays nothing in the window
        ("c", "2024-06-02T00:00:00", "payment", 3.0, None),
        ("c", "2024-08-31T00:00:00", "payment", 3.0, None),  # observed until 2024-09-01
    ]
)


def _revenue_matrix(events: pd.DataFrame, cutoffs: list[str], **value) -> pd.DataFrame:
    cfg = _inactivity_config("all")
    cfg = cfg.model_copy(
        update={"scoring": cfg.scoring.model_copy(update={"value": ValueSpec(**value)})}
    )
    dataset = in_memory_dataset(CUSTOMERS, events)
    return build_matrix(dataset, cfg, [utc(c) for c in cutoffs])


def test_future_revenue_sums_payments_in_the_half_open_window_after_the_cutoff():
    matrix = _revenue_matrix(REVENUE_EVENTS, ["2024-06-01"]).set_index("customer_id")
    assert matrix["future_revenue"].to_dict() == {"a": 110.0, "b": 0.0, "c": 3.0}
    # The payment 1 microsecond before the cutoff is the past: a feature, never the label.
    assert matrix.loc["a", "revenue_30d"] == 1.0
    assert "future_revenue" not in feature_columns(matrix.reset_index())
    assert "future_revenue" not in FeatureSpec.from_frame(matrix.reset_index()).names


def test_the_value_horizon_can_be_shorter_than_the_churn_horizon():
    matrix = _revenue_matrix(REVENUE_EVENTS, ["2024-06-01"], horizon_days=1)
    assert matrix.set_index("customer_id")["future_revenue"].to_dict() == {
        "a": 10.0,
        "b": 0.0,
        "c": 0.0,
    }


def test_future_revenue_is_only_for_labelled_cutoffs_and_moves_no_feature():
    # 2024-07-10 + 60 days runs past the data (observed until 2024-09-01): no label of either kind.
    matrix = _revenue_matrix(REVENUE_EVENTS, ["2024-06-01", "2024-07-10"])
    late = matrix[matrix["cutoff"] == utc("2024-07-10")]
    assert late["churned"].isna().all() and late["future_revenue"].isna().all()
    # Payments after the cutoff change its label, and none of its features.
    more = pd.concat(
        [REVENUE_EVENTS, events_frame([("b", "2024-06-05T00:00:00", "payment", 50.0, None)])]
    )
    before, after = (
        _revenue_matrix(events, ["2024-06-01"]).set_index("customer_id")
        for events in (REVENUE_EVENTS, more)
    )
    assert after.loc["b", "future_revenue"] == 50.0
    features = feature_columns(before.reset_index())
    pd.testing.assert_frame_equal(before[features], after[features])


def test_expected_value_needs_payments_and_event_derived_churn():
    raw = load_config().model_dump()
    raw["scoring"]["value"] = {"source": "expected"}
    Config.model_validate(raw)
    no_payments = {**raw, "signals": {**raw["signals"], "payment": []}}
    with pytest.raises(ValueError, match=r"scoring\.value\.source 'expected'.*signals\.payment"):
        Config.model_validate(no_payments)
    given = {**raw, "churn": {"source": "labels"}}
    with pytest.raises(ValueError, match=r"scoring\.value\.source 'expected'.*revenue"):
        Config.model_validate(given)
    raw["scoring"]["value"]["horizon_days"] = raw["snapshots"]["horizon_days"] + 1
    with pytest.raises(ValueError, match=r"scoring\.value\.horizon_days"):
        Config.model_validate(raw)
