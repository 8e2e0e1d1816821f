"""Snapshots and labels: who is in the population at a cutoff and what their label is."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import load_config
from features.dataset import Dataset
from features.errors import ConfigError
from features.matrix import build_matrix
from features.snapshots import observed_until, training_cutoffs
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
