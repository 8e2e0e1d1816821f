"""The benchmark's pandas and Polars references give the same matrix as `build_matrix` (guards
the benchmark's claim that they compute the same features)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.pandas_reference import read_world, reference_matrix
from benchmarks.polars_reference import polars_matrix
from features.config import Config, load_config
from features.dataset import open_dataset
from features.matrix import build_matrix
from features.synth import write_world
from tests.fixtures.feature_fixtures import CUTOFF, customers_frame, events_frame
from tests.unit.test_features import CUSTOMERS, EVENTS, EXPECTED_A

CFG = load_config()
CUTOFFS = [pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")]


def pandas_matrix(folder: Path, cfg: Config, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    customers, events = read_world(folder)
    return reference_matrix(customers, events, cfg, cutoffs)


REFERENCES = pytest.mark.parametrize(
    "reference", [pandas_matrix, polars_matrix], ids=["pandas", "polars"]
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "world"
    write_world(out, customers=500, seed=3, truth=False, workers=1)
    return out


@pytest.fixture(scope="module")
def fixture_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-computed fixture as a dataset folder with a single events.parquet."""
    folder = tmp_path_factory.mktemp("fixture")
    customers_frame(CUSTOMERS).to_parquet(folder / "customers.parquet")
    events_frame(EVENTS).to_parquet(folder / "events.parquet")
    return folder


@REFERENCES
def test_reference_equals_build_matrix_on_a_synthetic_world(world, reference):
    expected = build_matrix(open_dataset(world), CFG, CUTOFFS)
    got = reference(world, CFG, CUTOFFS)
    # Not a vacuous comparison: both cutoffs, a labelled population, and every family present.
    assert set(got["cutoff"]) == set(CUTOFFS)
    assert got["churned"].sum() > 0
    assert (got["faq_then_cancel_90d"] > 0).any()
    assert (got["unopened_email_streak"] > 0).any()
    assert got["days_since_last_cancel_page"].notna().any()
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


@REFERENCES
def test_reference_matches_the_hand_computed_fixture(fixture_world, reference):
    got = reference(fixture_world, CFG, [CUTOFF]).set_index("customer_id")
    expected = build_matrix(open_dataset(fixture_world), CFG, [CUTOFF]).set_index("customer_id")
    assert sorted(got.index) == ["a", "b", "e"]
    for name, value in EXPECTED_A.items():
        assert got.loc["a", name] == pytest.approx(value, rel=1e-9), name
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


@REFERENCES
def test_an_unmapped_family_yields_no_columns_in_the_references_too(fixture_world, reference):
    no_web = CFG.model_copy(
        update={"signals": CFG.signals.model_copy(update={"faq_page": [], "cancel_page": []})}
    )
    got = reference(fixture_world, no_web, [CUTOFF])
    assert not [c for c in got.columns if "faq" in c or "cancel" in c]
    assert "support_contacts_7d" in got.columns
