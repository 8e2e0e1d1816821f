"""Open a dataset (folder of Parquet or CSV files, or a DuckDB file) as Ibis tables.

Tables stay lazy: nothing is read until a query runs, so a 50M-event dataset costs no memory to
open. The same `Dataset` shape works over DuckDB (default) or a Spark session.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa

from features import contract
from features.engines import duckdb_connection
from features.errors import DataContractError

TABLES = tuple(table.name for table in contract.INPUT_TABLES)
REQUIRED_TABLES = contract.REQUIRED_TABLES
# CSV type sniffing would read ids like "1001" as integers and break joins with string ids, and
# fails with a ConversionException on a number like "9,99" after its sample, so every column but
# the contract's timestamps and booleans is read as text; validation parses the numbers (events
# `value`, numeric profile columns), naming those that do not parse.
CSV_STRING_COLUMNS = contract.TEXT_COLUMNS
_CSV_TYPED = {
    table.name: {
        c.name
        for c in table.columns
        if pa.types.is_timestamp(c.type) or pa.types.is_boolean(c.type)
    }
    for table in contract.INPUT_TABLES
}
# pandas writes nanosecond timestamps; DuckDB reads tz-aware ones as TIMESTAMPTZ_NS, which Ibis
# cannot type, so they are read as the contract's microsecond UTC timestamps (no instant changes
# beyond sub-microsecond truncation).
_UTC_MICROS = ibis.dtype(contract.UTC_TIMESTAMP)


@dataclass(frozen=True)
class Dataset:
    con: ibis.BaseBackend
    customers: ibis.Table
    events: ibis.Table
    labels: ibis.Table | None
    source: Path
    # Tables read from CSV files, whose numbers are text until validation parses them.
    csv_tables: frozenset[str] = frozenset()


def _table_path(folder: Path, table: str) -> tuple[str, str] | None:
    """Where a table lives in a folder: `T.parquet`, a folder `T/` of parts, or `T.csv`."""
    if (folder / f"{table}.parquet").is_file():
        return "parquet", str(folder / f"{table}.parquet")
    if (folder / table).is_dir() and any((folder / table).glob("*.parquet")):
        return "parquet", str(folder / table / "*.parquet")
    if (folder / f"{table}.csv").is_file():
        return "csv", str(folder / f"{table}.csv")
    return None


def open_dataset(path: Path | str, con: ibis.BaseBackend | None = None) -> Dataset:
    """Open the tables of a dataset; a missing required table is a contract error."""
    path = Path(path)
    if not path.exists():
        raise DataContractError([f"dataset {path} does not exist; pass --data DIR"])
    if path.is_file():
        return _open_duckdb_file(path)
    con = con if con is not None else duckdb_connection()
    tables: dict[str, ibis.Table | None] = {}
    csv_tables: set[str] = set()
    for table in TABLES:
        located = _table_path(path, table)
        if located is None:
            tables[table] = None
            continue
        kind, location = located
        name = f"{table}_source"
        if kind == "parquet":
            source = con.read_parquet(location, table_name=name)
        elif con.name != "duckdb":
            raise DataContractError(
                [
                    f"table {table}: {location} is CSV, which the {con.name} engine does not "
                    "read here (it would guess the column types); convert the dataset to "
                    "Parquet, or run with --engine duckdb"
                ]
            )
        else:
            csv_tables.add(table)
            types = _csv_string_types(location, table)
            # Quotes as RFC 4180 says, not sniffed: a sample without quotes would make a quoted
            # "9,99" further down a row with one field too many.
            source = con.read_csv(location, table_name=name, types=types, quote='"', escape='"')
        tables[table] = _normalise_timestamps(con, source, name)
    _require_tables(path, tables)
    labels = tables["labels"]
    return Dataset(con, tables["customers"], tables["events"], labels, path, frozenset(csv_tables))


def _open_duckdb_file(path: Path) -> Dataset:
    con = duckdb_connection(str(path), read_only=True)
    # Not `con.list_tables()`: ibis 12 calls a cursor method that duckdb 2 removed.
    listed = con.raw_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    present = {row[0] for row in listed}
    tables = {
        t: (_normalise_timestamps(con, con.table(t), t) if t in present else None) for t in TABLES
    }
    _require_tables(path, tables)
    return Dataset(con, tables["customers"], tables["events"], tables["labels"], path)


def _csv_string_types(location: str, table: str) -> dict[str, str]:
    """DuckDB column types forcing every column of a CSV file but the contract's timestamps and
    booleans to text (ids stay strings; numbers are parsed by validation)."""
    with open(location, newline="") as handle:
        header = next(csv.reader(handle), [])
    return {column: "VARCHAR" for column in header if column not in _CSV_TYPED[table]}


def _normalise_timestamps(con: ibis.BaseBackend, table: ibis.Table, name: str) -> ibis.Table:
    """Cast nanosecond tz-aware timestamp columns (untyped in Ibis) to microsecond UTC."""
    if con.name != "duckdb":  # Spark reads every timestamp as microseconds already
        return table
    described = con.raw_sql(f'DESCRIBE "{name}"').fetchall()
    nanos = [row[0] for row in described if str(row[1]).upper() == "TIMESTAMPTZ_NS"]
    if not nanos:
        return table
    return table.mutate(**{column: table[column].cast(_UTC_MICROS) for column in nanos})


def _require_tables(path: Path, tables: dict[str, ibis.Table | None]) -> None:
    missing = [t for t in REQUIRED_TABLES if tables[t] is None]
    if missing:
        raise DataContractError(
            [
                f"table {t}: not found in {path}; expected {t}.parquet, a {t}/ folder of "
                f"Parquet parts, {t}.csv, or a table '{t}' in a DuckDB file"
                for t in missing
            ]
        )
