"""Shared test helpers. Fixtures stay small: three to ten rows, written in the data contract."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_dataset(
    tmp_path: Path,
    customers_df: pd.DataFrame,
    events_df: pd.DataFrame,
    labels_df: pd.DataFrame | None = None,
) -> Path:
    """Write the frames as `customers.parquet`, `events.parquet` (and `labels.parquet`) in a
    `data/` folder under tmp_path and return that folder.

    Columns are written with the types they have, so a test can plant a wrong type; pandas'
    nanosecond timestamps are stored as microseconds, as the contract asks.
    """
    folder = tmp_path / "data"
    folder.mkdir(parents=True, exist_ok=True)
    frames = {"customers": customers_df, "events": events_df, "labels": labels_df}
    for name, frame in frames.items():
        if frame is not None:
            pq.write_table(_to_arrow(frame), folder / f"{name}.parquet")
    return folder


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Arrow table with timestamps in microseconds (tz kept, so naive stays naive)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for f in table.schema:
        if pa.types.is_timestamp(f.type):
            fields.append(pa.field(f.name, pa.timestamp("us", tz=f.type.tz)))
        else:
            fields.append(f)
    return table.cast(pa.schema(fields))
