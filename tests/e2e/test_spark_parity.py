"""One definition, two engines: the same builders on DuckDB and PySpark give identical matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from features.dataset import open_dataset
from features.engines import connect
from features.matrix import build_matrix
from features.synth.spec import EVENT_NAMES as SYNTH_EVENT_NAMES
from tests.fixtures.feature_fixtures import CUTOFF, customers_frame, events_frame
from tests.unit.test_features import CUSTOMERS, EVENTS

pytestmark = pytest.mark.spark

# The synthetic world's names, as the default config maps them.
EVENT_NAMES = np.array(
    [n for n in SYNTH_EVENT_NAMES if n not in {"email_click", "subscription_cancelled"}]
)


def _random_events(rng: np.random.Generator, customers: list[str], n: int) -> list[tuple]:
    """A few thousand events in the 200 days around the cutoffs, sessions and ties included."""
    seconds = rng.integers(-150 * 86_400, 50 * 86_400, size=n)
    # Round a third to the minute so some events share a timestamp (ties in the windows).
    seconds[: n // 3] = seconds[: n // 3] // 60 * 60
    names = rng.choice(EVENT_NAMES, size=n)
    who = rng.choice(customers, size=n)
    sessions = rng.choice(np.array(["s1", "s2", "s3", ""]), size=n)
    return [
        (
            str(c),
            (CUTOFF + pd.Timedelta(seconds=int(s))).isoformat(),
            str(e),
            float(rng.uniform(5, 50)) if e == "payment" else None,
            str(sess) or None,
        )
        for c, s, e, sess in zip(who, seconds, names, sessions, strict=True)
    ]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> str:
    rng = np.random.default_rng(7)
    extra = [(f"r{i:03d}", "2023-06-01", "standard", "ES", 20.0) for i in range(60)]
    customers = customers_frame(CUSTOMERS + extra)
    churn = [
        (
            f"r{i:03d}",
            (CUTOFF + pd.Timedelta(days=int(d))).isoformat(),
            "subscription_cancelled",
            None,
            None,
        )
        for i, d in enumerate(rng.integers(-40, 60, size=60))
        if i % 3 == 0
    ]
    events = events_frame(EVENTS + churn + _random_events(rng, [c[0] for c in extra] + ["a"], 4000))
    folder = tmp_path_factory.mktemp("parity")
    customers.to_parquet(folder / "customers.parquet", index=False)
    events.to_parquet(folder / "events.parquet", index=False)
    return str(folder)


def test_duckdb_and_spark_build_identical_matrices(dataset_dir):
    cfg = load_config()
    cutoffs = [CUTOFF - pd.Timedelta(days=30), CUTOFF, CUTOFF + pd.Timedelta(days=7)]
    on_duckdb = build_matrix(open_dataset(dataset_dir), cfg, cutoffs)
    on_spark = build_matrix(
        open_dataset(dataset_dir, con=connect("spark", "local[2]")), cfg, cutoffs
    )
    assert len(on_duckdb) > 150
    assert on_duckdb["faq_then_cancel_90d"].sum() > 0
    assert on_duckdb["future_revenue"].sum() > 0  # the value label is built on both engines too
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-12)
