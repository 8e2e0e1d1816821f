"""What every importer shares: the contract's Arrow schemas, locating the source, atomic writing.

Importers are split into pure steps (source DataFrame in, contract DataFrames out) and a thin
I/O shell, so the conversions can be tested on three-row frames.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.table import Table

from features import contract
from features.atomic import atomic_directory
from features.errors import ChurnError

log = logging.getLogger(__name__)

# Every importer writes the same events columns so downstream code meets one shape; columns a
# source has no data for (CDNOW sessions, all of BigML) are null or the table is empty. Keys and
# required values are non-nullable fields, as the contract declares them.
EVENTS_SCHEMA = contract.EVENTS.arrow()
LABELS_SCHEMA = contract.LABELS.arrow()
CUSTOMER_KEYS = list(contract.CUSTOMERS.arrow())


class ImportSourceError(ChurnError):
    """The source file is missing or not in the expected public format."""


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote, printed by `churn data import`."""

    kind: str
    out: Path
    customers: int
    events: int
    labels: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = (
            f"{self.kind}: {self.customers:,} customers, {self.events:,} events, "
            f"{self.labels:,} labels -> {self.out}"
        )
        return "\n".join([head, *(f"  {note}" for note in self.notes)])

    def __rich__(self) -> Table:
        table = Table(title=f"imported {self.kind} into {self.out}", show_header=False)
        table.add_row("customers", f"{self.customers:,}")
        table.add_row("events", f"{self.events:,}")
        table.add_row("labels", f"{self.labels:,}")
        for note in self.notes:
            table.add_row("note", note)
        return table


def locate_source(src: Path, kind: str, patterns: tuple[str, ...]) -> Path:
    """Return SRC if it is a file, else the first file in folder SRC matching one of `patterns`."""
    src = Path(src)
    if src.is_file():
        return src
    if src.is_dir():
        for pattern in patterns:
            found = sorted(src.glob(pattern))
            if found:
                return found[0]
        raise ImportSourceError(
            f"{kind}: no file matching {' or '.join(patterns)} in {src}; "
            f"pass the file itself or the folder from ../shared/data"
        )
    raise ImportSourceError(
        f"{kind}: source {src} does not exist; pass the file or folder from ../shared/data"
    )


def require_columns(frame: pd.DataFrame, columns: list[str], source: Path) -> None:
    """Fail with the missing column names if the source is not the expected public file."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ImportSourceError(
            f"{source}: missing column(s) {missing}; found {list(frame.columns)[:12]}; "
            "is this the right file?"
        )


def snake_case(name: str) -> str:
    """`NextSong` -> `next_song`, `Submit Downgrade` -> `submit_downgrade`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Convert to the exact contract types, keeping only the schema's columns in its order."""
    return pa.Table.from_arrays([_column(frame[f.name], f.type) for f in schema], schema=schema)


def _column(series: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    """One column as Arrow; UTC timestamps go through naive UTC values.

    pyarrow's `from_pandas` reads `Series.values` of tz-aware columns, which pandas 3.1
    deprecates; naive UTC microseconds cast to `timestamp[us, tz=UTC]` are the same instants.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        naive = contract.series_as_naive_utc(series).to_numpy("datetime64[us]")
        return pa.array(naive, type=pa.timestamp("us")).cast(arrow_type)
    return pa.array(series, type=arrow_type, from_pandas=True)


def customers_schema(frame: pd.DataFrame) -> pa.Schema:
    """The keys with their contract types, then the profile attributes with inferred types."""
    attributes = [name for name in frame.columns if name not in contract.CUSTOMERS.names]
    inferred = pa.Schema.from_pandas(frame[attributes], preserve_index=False)
    # pandas 3 strings would become large_string; the contract's strings are plain `string`.
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in inferred
    ]
    return pa.schema(CUSTOMER_KEYS + fields)


def write_dataset(out: Path, tables: dict[str, pa.Table]) -> None:
    """Write each table as `<name>.parquet`, replacing `out` whole or not at all."""
    with atomic_directory(out, "churn data import") as staging:
        for name, table in tables.items():
            # Drop pandas' index metadata: the files are plain contract tables.
            pq.write_table(table.replace_schema_metadata(None), staging / f"{name}.parquet")
    log.info("wrote %s to %s", ", ".join(f"{n} ({t.num_rows:,})" for n, t in tables.items()), out)


def write_customers_and_events(out: Path, customers: pd.DataFrame, events: pd.DataFrame) -> None:
    """The usual import: a customers and an events table in the contract's types, written as
    `write_dataset` writes."""
    write_dataset(
        out,
        {
            "customers": to_arrow(customers, customers_schema(customers)),
            "events": to_arrow(events, EVENTS_SCHEMA),
        },
    )
