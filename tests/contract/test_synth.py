"""The synthetic world: deterministic, in the data contract, and with the planted signals visible.

Signals are measured with pandas directly on the events, not through the feature builders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from features.atomic import OWNED_MARKER
from features.synth import WorldSpec, true_churn_probability, write_world

CUSTOMERS = 2000
CHUNK = 700  # several chunks, so chunking and seeding per chunk are exercised
WORLD_START = pd.Timestamp(WorldSpec().start, tz="UTC")
WORLD_END = pd.Timestamp(WorldSpec().end, tz="UTC")
CUTOFFS = [
    pd.Timestamp(day, tz="UTC")
    for day in ("2025-09-01", "2025-11-01", "2026-01-01", "2026-03-01", "2026-05-01")
]
HORIZON = pd.Timedelta(days=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("synth") / "world"
    summary = write_world(out, customers=CUSTOMERS, seed=7, chunk_size=CHUNK, workers=1)
    return out, summary


@pytest.fixture(scope="module")
def events(world) -> pd.DataFrame:
    return pd.read_parquet(world[0] / "events")


@pytest.fixture(scope="module")
def customers(world) -> pd.DataFrame:
    return pd.read_parquet(world[0] / "customers.parquet")


def _files(folder: Path) -> dict[str, bytes]:
    """The world's data files (not churn's ownership marker)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != OWNED_MARKER
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(world, tmp_path):
    out, _ = world
    write_world(tmp_path / "again", customers=CUSTOMERS, seed=7, chunk_size=CHUNK, workers=1)
    write_world(tmp_path / "other", customers=CUSTOMERS, seed=8, chunk_size=CHUNK, workers=1)
    first, again, other = _files(out), _files(tmp_path / "again"), _files(tmp_path / "other")
    # customers, truth/customers, truth/world.json, 3 events parts, 3 hazard parts
    assert len(first) == 3 + 2 * 3
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_worker_count_does_not_change_the_files(world, tmp_path):
    write_world(tmp_path / "pool", customers=CUSTOMERS, seed=7, chunk_size=CHUNK, workers=2)
    assert _files(world[0]) == _files(tmp_path / "pool")


def test_tables_follow_the_data_contract(world):
    out, _ = world
    ts = pa.timestamp("us", tz="UTC")
    assert pq.read_schema(out / "customers.parquet") == pa.schema(
        [
            ("customer_id", pa.string()),
            ("signup_at", ts),
            ("plan", pa.string()),
            ("plan_price", pa.float64()),
            ("country", pa.string()),
        ]
    )
    expected = pa.schema(
        [
            ("customer_id", pa.string()),
            ("ts", ts),
            ("event", pa.string()),
            ("value", pa.float64()),
            ("session_id", pa.string()),
        ]
    )
    parts = sorted((out / "events").glob("part-*.parquet"))
    assert [p.name for p in parts] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    for part in parts:
        assert pq.read_schema(part) == expected


def test_customers_are_believable(customers):
    assert len(customers) == CUSTOMERS
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].iloc[0] == "C0000001"
    assert customers["customer_id"].iloc[-1] == f"C{CUSTOMERS:07d}"
    assert customers["signup_at"].min() >= WORLD_START
    assert customers["signup_at"].max() < WORLD_END
    # Signups spread over the whole ~18 months, growing: more in the last quarter than the first.
    months = customers["signup_at"].dt.tz_localize(None).dt.to_period("M").nunique()
    assert months == 18
    first_q = (customers["signup_at"] < WORLD_START + pd.Timedelta(days=91)).sum()
    last_q = (customers["signup_at"] >= WORLD_END - pd.Timedelta(days=91)).sum()
    assert last_q > 1.3 * first_q
    assert set(customers["plan"]) == {"basic", "standard", "premium"}
    prices = customers.groupby("plan")["plan_price"].unique()
    assert all(len(p) == 1 for p in prices)
    assert prices["basic"][0] < prices["standard"][0] < prices["premium"][0]
    shares = customers["country"].value_counts(normalize=True)
    assert shares.index[0] == "US" and 0.3 < shares.iloc[0] < 0.5


def test_summary_matches_the_files(world, events):
    _, summary = world
    assert summary.customers == CUSTOMERS
    assert summary.events == len(events)
    assert (
        summary.events_by_type
        == events["event"]
        .value_counts()
        .reindex(list(summary.events_by_type), fill_value=0)
        .to_dict()
    )
    assert summary.churners == (events["event"] == "subscription_cancelled").sum()
    assert 50 <= summary.events / CUSTOMERS <= 100
    assert "customers" in str(summary)


def test_events_stay_within_each_customer_life(events, customers):
    assert events["ts"].min() >= WORLD_START
    assert events["ts"].max() < WORLD_END
    signup = events["customer_id"].map(customers.set_index("customer_id")["signup_at"])
    assert signup.notna().all()
    assert (events["ts"] >= signup).all()
    cancels = events[events["event"] == "subscription_cancelled"]
    assert cancels["customer_id"].is_unique
    cancelled_at = events["customer_id"].map(cancels.set_index("customer_id")["ts"])
    after = events["ts"] > cancelled_at
    assert not after.any(), events[after].head()
    # The cancellation is the customer's last event.
    last = events.sort_values(["ts", "event"]).groupby("customer_id")["ts"].max()
    assert (last.reindex(cancels["customer_id"]).to_numpy() == cancels["ts"].to_numpy()).all()


def test_values_sessions_and_payments(events, customers):
    payments = events[events["event"] == "payment"]
    price = payments["customer_id"].map(customers.set_index("customer_id")["plan_price"])
    assert (payments["value"] == price).all()
    assert (
        events.loc[events["event"].isin(["login", "page_view", "email_sent"]), "value"].isna().all()
    )
    assert events.loc[events["event"].isin(["support_call", "support_chat"]), "value"].gt(0).all()
    assert events.loc[events["event"] == "login", "session_id"].notna().all()
    assert events.loc[events["event"] == "email_open", "session_id"].isna().all()
    # A session belongs to one customer.
    assert (
        events.dropna(subset=["session_id"]).groupby("session_id")["customer_id"].nunique().max()
        == 1
    )
    # Monthly: a customer alive a whole year after signup pays 12 or 13 times in that year.
    signup = payments["customer_id"].map(customers.set_index("customer_id")["signup_at"])
    first_year = payments[payments["ts"] < signup + pd.Timedelta(days=365)]
    early = customers.loc[
        customers["signup_at"] < WORLD_END - pd.Timedelta(days=400), "customer_id"
    ]
    survivors = set(early) - set(
        events.loc[events["event"] == "subscription_cancelled", "customer_id"]
    )
    per_customer = (
        first_year[first_year["customer_id"].isin(survivors)].groupby("customer_id").size()
    )
    assert len(per_customer) > 50
    assert per_customer.between(12, 13).all()


def test_every_email_open_follows_a_send_to_the_same_customer(events):
    sends = events[events["event"] == "email_sent"].sort_values("ts")
    opens = events[events["event"] == "email_open"].sort_values("ts")
    assert len(opens) > 1000
    matched = pd.merge_asof(
        opens[["customer_id", "ts"]],
        sends[["customer_id", "ts"]].rename(columns={"ts": "sent"}),
        left_on="ts",
        right_on="sent",
        by="customer_id",
        allow_exact_matches=False,
    )
    assert matched["sent"].notna().all()
    clicks = events[events["event"] == "email_click"]
    assert len(clicks) > 0
    assert clicks["ts"].min() > opens["ts"].min()


def _window_stats(
    events: pd.DataFrame, customers: pd.DataFrame, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """Per living customer at `cutoff`: signals in the 30 days before it and the 30-day label."""
    cancels = events.loc[events["event"] == "subscription_cancelled"].set_index("customer_id")["ts"]
    alive = customers.loc[customers["signup_at"] < cutoff, ["customer_id"]].copy()
    cancelled = alive["customer_id"].map(cancels)
    alive = alive[~(cancelled < cutoff)]
    cancelled = alive["customer_id"].map(cancels)
    alive["churned"] = (cancelled >= cutoff) & (cancelled < cutoff + HORIZON)
    window = events[(events["ts"] >= cutoff - HORIZON) & (events["ts"] < cutoff)]
    counts = window.groupby(["customer_id", "event"]).size().unstack(fill_value=0)
    # FAQ then cancel page in the same session, the cancel page after the FAQ.
    journey = window[window["event"].isin(["faq_view", "cancel_page_view"])]
    first_faq = journey[journey["event"] == "faq_view"].groupby("session_id")["ts"].min()
    last_cancel = journey[journey["event"] == "cancel_page_view"].groupby("session_id")["ts"].max()
    both = pd.concat([first_faq.rename("faq"), last_cancel.rename("cancel")], axis=1).dropna()
    sessions = journey.drop_duplicates("session_id").set_index("session_id")["customer_id"]
    faq_then_cancel = sessions[both.index[both["faq"] < both["cancel"]]].value_counts()
    stats = alive.set_index("customer_id")
    for name in ("login", "support_call", "support_chat", "email_sent", "email_open"):
        stats[name] = counts[name].reindex(stats.index, fill_value=0) if name in counts else 0
    stats["faq_then_cancel"] = faq_then_cancel.reindex(stats.index, fill_value=0)
    stats["support"] = stats["support_call"] + stats["support_chat"]
    return stats


@pytest.fixture(scope="module")
def window_stats(events, customers) -> pd.DataFrame:
    return pd.concat([_window_stats(events, customers, c) for c in CUTOFFS])


def test_churners_show_the_planted_signals_before_they_leave(window_stats):
    groups = window_stats.groupby("churned")
    churners, stayers = groups.get_group(True), groups.get_group(False)
    assert len(churners) > 150
    assert 0.03 < len(churners) / len(window_stats) < 0.08  # monthly churn among the active
    assert churners["faq_then_cancel"].mean() > 3 * stayers["faq_then_cancel"].mean()
    assert churners["support"].mean() > 3 * stayers["support"].mean()
    assert churners["login"].mean() < 0.85 * stayers["login"].mean()
    assert churners["login"].median() <= stayers["login"].median()
    open_rate = groups["email_open"].sum() / groups["email_sent"].sum()
    assert open_rate[True] < 0.75 * open_rate[False]
    unopened = 1 - open_rate
    assert unopened[True] > 1.15 * unopened[False]


def test_truth_matches_what_happened(world, events, window_stats):
    out, _ = world
    truth = true_churn_probability(out, CUTOFFS, 30)
    assert list(truth.columns) == ["customer_id", "cutoff", "true_probability"]
    assert str(truth["cutoff"].dtype) == "datetime64[us, UTC]"
    assert truth["true_probability"].between(0, 1).all()
    # The same population as "alive at the cutoff" computed from the events.
    assert len(truth) == len(window_stats)
    labelled = truth.merge(
        window_stats.reset_index()[["customer_id", "churned"]].assign(
            cutoff=truth["cutoff"].to_numpy()
        ),
        on=["customer_id", "cutoff"],
        validate="one_to_one",
    )
    assert roc_auc_score(labelled["churned"], labelled["true_probability"]) > 0.75
    # Calibrated: the expected number of churners is close to the realised number.
    expected, realised = labelled["true_probability"].sum(), labelled["churned"].sum()
    assert abs(expected - realised) < 4 * np.sqrt(expected)


def test_truth_records_mechanism_and_churn_instant(world, events):
    out, _ = world
    truth = pd.read_parquet(out / "truth" / "customers.parquet")
    cancels = events[events["event"] == "subscription_cancelled"].set_index("customer_id")["ts"]
    assert len(truth) == CUSTOMERS
    churned = truth.dropna(subset=["churned_at"]).set_index("customer_id")["churned_at"]
    pd.testing.assert_series_equal(churned.sort_index(), cancels.sort_index(), check_names=False)
    assert set(truth.loc[truth["churned_at"].isna(), "mechanism"]) == {"none"}
    shares = truth.loc[truth["churned_at"].notna(), "mechanism"].value_counts(normalize=True)
    assert set(shares.index) == {"dissatisfaction", "price", "traceless"}
    assert shares["dissatisfaction"] > 0.4
    assert shares["traceless"] > 0.05


def test_true_probability_grows_with_horizon_and_handles_naive_cutoffs(world):
    out, _ = world
    naive = true_churn_probability(out, [pd.Timestamp("2026-01-01")], 30)
    aware = true_churn_probability(out, [pd.Timestamp("2026-01-01", tz="UTC")], 30)
    pd.testing.assert_frame_equal(naive, aware)
    longer = true_churn_probability(out, [pd.Timestamp("2026-01-01", tz="UTC")], 90)
    assert (longer["true_probability"].to_numpy() >= aware["true_probability"].to_numpy()).all()
    assert longer["true_probability"].mean() > 2 * aware["true_probability"].mean()
    empty = true_churn_probability(out, [], 30)
    assert empty.empty and list(empty.columns) == list(aware.columns)


def test_world_without_truth_and_bad_sizes(tmp_path):
    from features.errors import ChurnError

    summary = write_world(tmp_path / "w", customers=50, seed=1, truth=False)
    assert summary.customers == 50
    assert not (tmp_path / "w" / "truth").exists()
    with pytest.raises(ChurnError, match="truth"):
        true_churn_probability(tmp_path / "w", [pd.Timestamp("2026-01-01", tz="UTC")], 30)
    with pytest.raises(ChurnError, match="customers"):
        write_world(tmp_path / "bad", customers=0, seed=1)
    assert not (tmp_path / "bad").exists()
