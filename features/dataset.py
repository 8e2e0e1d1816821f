"""Open a dataset (folder of Parquet or CSV files, or a DuckDB file) as Ibis tables.

Tables stay lazy: nothing is read until a query runs, so a 50M-event dataset costs no memory to
open. The same `Dataset` shape works over DuckDB (default) or a Spark session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis

from features.errors import DataContractError

TABLES = ("customers", "events", "labels")
REQUIRED_TABLES = ("customers", "events")


@dataclass(frozen=True)
class Dataset:
    con: ibis.BaseBackend
    customers: ibis.Table
    events: ibis.Table
    labels: ibis.Table | None
    source: Path


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
    con = con if con is not None else ibis.duckdb.connect()
    tables: dict[str, ibis.Table | None] = {}
    for table in TABLES:
        located = _table_path(path, table)
        if located is None:
            tables[table] = None
            continue
        kind, location = located
        reader = con.read_parquet if kind == "parquet" else con.read_csv
        tables[table] = reader(location, table_name=f"{table}_source")
    _require_tables(path, tables)
    return Dataset(con, tables["customers"], tables["events"], tables["labels"], path)


def _open_duckdb_file(path: Path) -> Dataset:
    con = ibis.duckdb.connect(str(path), read_only=True)
    present = set(con.list_tables())
    tables = {t: (con.table(t) if t in present else None) for t in TABLES}
    _require_tables(path, tables)
    return Dataset(con, tables["customers"], tables["events"], tables["labels"], path)


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
