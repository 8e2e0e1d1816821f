"""Optional event columns are optional for the features too, and an engine that cannot read a
CSV table faithfully refuses it in one line instead of guessing its types."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from features.config import load_config
from features.dataset import open_dataset
from features.errors import DataContractError
from features.matrix import build_matrix
from features.synth import write_world
from pipelines import catalog

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("optional") / "world"
    write_world(folder, customers=300, seed=4, truth=False)
    return folder


def without(world: Path, folder: Path, column: str) -> Path:
    folder.mkdir()
    (folder / "customers.parquet").write_bytes((world / "customers.parquet").read_bytes())
    events = pads.dataset(world / "events").to_table()
    pq.write_table(events.drop([column]), folder / "events.parquet")
    return folder


@pytest.mark.parametrize("column", ["session_id", "value"])
def test_features_build_without_an_optional_event_column(world, tmp_path, column) -> None:
    cfg = load_config()
    with catalog.dataset(world, cfg) as dataset:
        full = build_matrix(dataset, cfg, [AS_OF])
    with catalog.dataset(without(world, tmp_path / "data", column), cfg) as dataset:
        matrix = build_matrix(dataset, cfg, [AS_OF])
    assert list(matrix.columns) == list(full.columns) and len(matrix) == len(full)
    if column == "value":  # no amounts: no revenue, everything else as before
        assert (matrix["revenue_365d"] == 0).all() and (full["revenue_365d"] > 0).any()
        paying = full["purchases_365d"] > 0  # paid, no amounts: an average of 0, not missing
        assert paying.any() and (matrix.loc[paying, "average_order_value_365d"] == 0).all()
        assert matrix["support_contacts_30d"].equals(full["support_contacts_30d"])
    else:  # no sessions: a cancel counts only within 30 minutes of a FAQ view, not per session
        fewer = matrix["faq_then_cancel_30d"] <= full["faq_then_cancel_30d"]
        assert fewer.all() and matrix["faq_then_cancel_30d"].sum() > 0
        assert matrix["revenue_365d"].equals(full["revenue_365d"])


def test_an_amount_that_is_not_a_number_is_no_amount(world, tmp_path) -> None:
    """A NaN or infinite value (Spark and Polars write NaN) neither stops the build nor
    counts: on a login it is ignored, on a payment that payment adds nothing."""
    cfg = load_config()
    with catalog.dataset(world, cfg) as dataset:
        full = build_matrix(dataset, cfg, [AS_OF])
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "customers.parquet").write_bytes((world / "customers.parquet").read_bytes())
    events = pads.dataset(world / "events").to_table().to_pandas()
    recent = events["ts"] >= AS_OF - pd.Timedelta(days=30)
    payment = events.index[(events["event"] == "payment") & recent][0]
    login = events.index[events["event"] == "login"][0]
    paid = events.loc[payment, "value"]
    events.loc[[payment, login], "value"] = [float("nan"), float("inf")]
    events.to_parquet(folder / "events.parquet")
    with catalog.dataset(folder, cfg) as dataset:
        matrix = build_matrix(dataset, cfg, [AS_OF]).set_index("customer_id")
    full = full.set_index("customer_id")
    payer = events.loc[payment, "customer_id"]
    assert paid > 0 and matrix["revenue_30d"].notna().all()
    assert matrix.loc[payer, "revenue_30d"] == pytest.approx(full.loc[payer, "revenue_30d"] - paid)
    others = matrix.index != payer
    pd.testing.assert_series_equal(
        matrix.loc[others, "revenue_365d"], full.loc[others, "revenue_365d"]
    )


class NotDuckDB:
    """A stand-in connection of another engine: CSV tables must be refused before any read."""

    name = "pyspark"

    def read_csv(self, *args, **kwargs):
        raise AssertionError("a CSV table was read on an engine that guesses its types")


def test_a_csv_table_on_another_engine_is_refused_in_one_line(tmp_path) -> None:
    pd.DataFrame({"customer_id": ["c1"], "signup_at": ["2026-01-01T00:00:00Z"]}).to_csv(
        tmp_path / "customers.csv", index=False
    )
    with pytest.raises(DataContractError, match=r"customers\.csv is CSV.*convert the dataset"):
        open_dataset(tmp_path, con=NotDuckDB())
