"""Open a dataset (a folder of Parquet, CSV or JSON-lines tables, or a DuckDB file) as Ibis tables.

Tables stay lazy: nothing is read until a query runs, so a 50M-event dataset costs no memory to
open. The same `Dataset` shape works over DuckDB (default) or a Spark session.
"""

from __future__ import annotations

import csv
import glob
import gzip
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa

from features import contract
from features.config import DataSources, TableSource
from features.engines import duckdb_connection
from features.errors import DataContractError

TABLES = tuple(table.name for table in contract.INPUT_TABLES)
REQUIRED_TABLES = contract.REQUIRED_TABLES
# CSV type sniffing would read ids like "1001" as integers and break joins with string ids, and
# fails with a ConversionException on a number like "9,99" after its sample, so every column but
# the contract's timestamps and booleans is read as text; validation parses the numbers (events
# `value`, numeric profile columns), naming those that do not parse.
CSV_STRING_COLUMNS = contract.TEXT_COLUMNS
# Booleans are typed by DuckDB's sniffer; timestamps are read as text too, so that zone and
# zone-less values are each read as they are written (`_text_times`), never one rule for all.
_CSV_TYPED = {
    table.name: {c.name for c in table.columns if pa.types.is_boolean(c.type)}
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
    # Tables read from CSV or JSON lines, whose numbers may be text until validation parses them.
    csv_tables: frozenset[str] = frozenset()


# A table's file suffixes, by reader: CSV and JSON lines may be gzip-compressed.
FORMATS = (
    ("parquet", ".parquet"),
    ("csv", ".csv"),
    ("csv", ".csv.gz"),
    ("json", ".jsonl"),
    ("json", ".jsonl.gz"),
    ("json", ".ndjson"),
    ("json", ".ndjson.gz"),
    ("json", ".json"),
    ("json", ".json.gz"),
)


def _table_path(folder: Path, table: str, source: TableSource) -> tuple[str, str] | None:
    """Where a table lives: `data.<table>.path`, else `T.parquet`, `T.csv(.gz)`, `T.jsonl(.gz)`
    (or .ndjson/.json lines), or a folder `T/` of parts of one of those formats."""
    if source.path is not None:
        target = folder / source.path
        located = _located(target)
        if located is None:
            raise DataContractError(
                [
                    f"data.{table}.path: {target} is not a Parquet, CSV or JSON-lines file or a "
                    "folder of such parts; fix the path (relative to --data)"
                ]
            )
        return located
    for _kind, suffix in FORMATS:
        if (folder / f"{table}{suffix}").is_file():
            return _located(folder / f"{table}{suffix}")
    return _located(folder / table) if (folder / table).is_dir() else None


def _located(target: Path) -> tuple[str, str] | None:
    """The reader and location (a glob for a folder's parts) of a file or folder, or None."""
    if target.is_file():
        return next(((k, str(target)) for k, s in FORMATS if target.name.endswith(s)), None)
    if target.is_dir():
        for kind, suffix in FORMATS:
            if any(target.glob(f"*{suffix}")):
                return kind, str(target / f"*{suffix}")
    return None


def open_dataset(
    path: Path | str, con: ibis.BaseBackend | None = None, sources: DataSources | None = None
) -> Dataset:
    """Open the tables of a dataset, named and zoned as `sources` (the config's `data`) says; a
    missing required table is a contract error. A labels-only snapshot gets an empty events
    table."""
    path = Path(path)
    sources = sources if sources is not None else DataSources()
    if not path.exists():
        raise DataContractError([f"dataset {path} does not exist; pass --data DIR"])
    if path.is_file():
        return _open_duckdb_file(path, sources)
    con = con if con is not None else duckdb_connection()
    tables: dict[str, ibis.Table | None] = {}
    text_tables: set[str] = set()
    for table in TABLES:
        source = getattr(sources, table)
        located = _table_path(path, table, source)
        if located is None:
            tables[table] = None
            continue
        kind, location = located
        name = f"{table}_source"
        if kind != "parquet" and con.name != "duckdb":
            raise DataContractError(
                [
                    f"table {table}: {location} is {kind.upper()}, which the {con.name} engine "
                    "does not read here (it would guess the column types); convert the dataset "
                    "to Parquet, or run with --engine duckdb"
                ]
            )
        if kind == "parquet":
            raw = con.read_parquet(location, table_name=name)
        elif kind == "csv":
            text_tables.add(table)
            types = _csv_string_types(location, table, source)
            # Quotes as RFC 4180 says, not sniffed: a sample without quotes would make a quoted
            # "9,99" further down a row with one field too many.
            raw = con.read_csv(location, table_name=name, types=types, quote='"', escape='"')
        else:
            text_tables.add(table)
            raw = con.read_json(location, table_name=name, format="newline_delimited")
        text = kind != "parquet"  # no stored types: ids and times are read from their text
        # Nanosecond timestamps are cast under the export's names, before they are mapped.
        mapped = _mapped(table, _normalise_timestamps(con, raw, name), source, location, text)
        tables[table] = _zoned(con, mapped, table, sources, text)
        if table == "events" and text and not int(tables[table].limit(1).count().execute()):
            tables[table] = _no_events(con)  # a header-only file: no types to read, no rows
    if tables["events"] is None and tables["labels"] is not None:
        tables["events"] = _no_events(con)
    _require_tables(path, tables)
    labels = tables["labels"]
    return Dataset(con, tables["customers"], tables["events"], labels, path, frozenset(text_tables))


def _mapped(
    table: str, raw: ibis.Table, source: TableSource, location: str, text: bool
) -> ibis.Table:
    """The table with its export's column names renamed to the contract's (and, from a text
    format, ids written as numbers read as the text they are)."""
    missing = {c: n for c, n in source.columns.items() if n not in raw.columns}
    if missing:
        contract_name, export_name = next(iter(missing.items()))
        raise DataContractError(
            [
                f"data.{table}.columns.{contract_name}: column {export_name!r} is not in "
                f"{location} (columns present: {', '.join(raw.columns)}); name the column that "
                f"holds {contract_name}"
            ]
        )
    renamed = raw.rename({c: n for c, n in source.columns.items() if c != n})
    if not text:
        return renamed
    schema = getattr(contract, table.upper())
    ids = [c.name for c in schema.columns if c.type == pa.string() and c.name in renamed.columns]
    casts = {c: renamed[c].cast("string") for c in ids if renamed[c].type().is_integer()}
    return renamed.mutate(**casts) if casts else renamed


# A time of day followed by a zone (Z, +05:00, -0530, +05): "2026-03-01" alone has none.
ZONE_SUFFIX = r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _text_times(table: ibis.Table, column: str, zone: str | None) -> tuple[str, bool] | None:
    """SQL reading a text column of times, and whether the result is still zone-less: values
    with a zone at their offset, values without one as wall-clock times of `zone` (when given).
    None leaves the text for validation to name: a value that is no time, or a column mixing
    zoned and zone-less values with no `data.timezone` to place the latter."""
    text = table[column]
    zoned = text.re_search(ZONE_SUFFIX)
    bad = text.notnull() & (
        (zoned & text.try_cast(_UTC_MICROS).isnull())
        | (~zoned & text.try_cast("timestamp").isnull())
    )
    stats = (
        table.aggregate(
            values=text.notnull().sum(), zoned=(text.notnull() & zoned).sum(), bad=bad.sum()
        )
        .execute()
        .iloc[0]
    )
    values, with_zone = int(stats["values"] or 0), int(stats["zoned"] or 0)
    if int(stats["bad"] or 0):
        return None
    quoted = f'"{column}"'
    if with_zone == values:
        return f"TRY_CAST({quoted} AS TIMESTAMPTZ)", False
    if with_zone == 0:
        return f"TRY_CAST({quoted} AS TIMESTAMP)", True
    if zone is None:
        return None
    return (
        f"CASE WHEN regexp_matches({quoted}, '{ZONE_SUFFIX}') THEN TRY_CAST({quoted} AS "
        f"TIMESTAMPTZ) ELSE timezone('{zone}', TRY_CAST({quoted} AS TIMESTAMP)) END",
        False,
    )


def _zoned(
    con: ibis.BaseBackend, table: ibis.Table, name: str, sources: DataSources, text: bool
) -> ibis.Table:
    """Contract timestamps as UTC where the export says how: from a text format, times written
    as text are parsed when every value parses; times without a zone are read as wall-clock
    times of `data.timezone`. Anything else is left for validation to refuse with its fix."""
    zone = sources.timezone
    if name == "labels" and zone is not None:
        # A label's as_of is a cutoff day, and cutoffs are UTC midnights: its date is not a
        # local wall-clock time (shifted, it would never equal a scored night).
        zone = "UTC"
    schema = getattr(contract, name.upper())
    columns = [c.name for c in schema.columns if pa.types.is_timestamp(c.type)]
    replaced = []
    for column in (c for c in columns if c in table.columns):
        kind = table[column].type()
        expression = f'"{column}"'
        if kind.is_string() and text:
            parsed = _text_times(table, column, zone)
            if parsed is None:
                continue  # validation names the column and the fix
            expression, naive = parsed
        elif kind.is_timestamp():
            naive = kind.timezone is None
        elif kind.is_date() and text:  # a CSV date: midnight of that day
            expression, naive = f'CAST("{column}" AS TIMESTAMP)', True
        else:
            continue
        if naive and zone is not None:
            # DuckDB's timezone(zone, naive) reads the wall-clock time in that zone (DST too).
            expression = f"timezone('{zone}', {expression})"
        elif expression == f'"{column}"':
            continue
        replaced.append((column, expression))
    if not replaced:
        return table
    if con.name != "duckdb":
        raise DataContractError(
            [
                f"data.timezone: the {con.name} engine does not localise {name} "
                f"{[c for c, _ in replaced]} here; store them in UTC, or run with --engine duckdb"
            ]
        )
    view = f"{name}_zoned"
    listing = ", ".join(f'{expression} AS "{column}"' for column, expression in replaced)
    # A view, not `con.sql`: ibis 12 describes a query with a cursor method duckdb 2 removed.
    con.raw_sql(
        f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * REPLACE ({listing}) '
        f"FROM ({con.compile(table)})"
    )
    zoned = con.table(view)
    aware = [c for c, _ in replaced if zoned[c].type().is_timestamp() and zoned[c].type().timezone]
    return zoned.mutate(**{c: zoned[c].cast(_UTC_MICROS) for c in aware})


def _no_events(con: ibis.BaseBackend) -> ibis.Table:
    """An empty events table of the contract's types (a labels-only snapshot has no events)."""
    return ibis.memtable(contract.EVENTS.arrow().empty_table())


def _open_duckdb_file(path: Path, sources: DataSources) -> Dataset:
    """A DuckDB file's tables, named and zoned as `sources` says (a table's path does not apply:
    the tables are the file's own)."""
    placed = [t for t in TABLES if getattr(sources, t).path is not None]
    if placed:
        raise DataContractError(
            [
                f"data.{placed[0]}.path: {path} is a DuckDB file, whose tables are found by name; "
                f"remove data.{placed[0]}.path, or pass the folder holding the table as --data"
            ]
        )
    con = duckdb_connection(str(path), read_only=True)
    # Not `con.list_tables()`: ibis 12 calls a cursor method that duckdb 2 removed.
    listed = con.raw_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    present = {row[0] for row in listed}
    tables: dict[str, ibis.Table | None] = {}
    for t in TABLES:
        if t not in present:
            tables[t] = None
            continue
        raw = _normalise_timestamps(con, con.table(t), t)
        mapped = _mapped(t, raw, getattr(sources, t), f"{path}", False)
        tables[t] = _zoned(con, mapped, t, sources, False)
    _require_tables(path, tables)
    return Dataset(con, tables["customers"], tables["events"], tables["labels"], path)


def _csv_string_types(location: str, table: str, source: TableSource) -> dict[str, str]:
    """DuckDB column types forcing every column of a CSV file (or of its first part) but the
    contract's timestamps and booleans to text (ids stay strings; validation parses numbers)."""
    first = sorted(glob.glob(location))[0]
    opener = gzip.open if first.endswith(".gz") else open
    with opener(first, "rt", newline="") as handle:
        header = next(csv.reader(handle), [])
    typed = {source.columns.get(name, name) for name in _CSV_TYPED[table]}
    return {column: "VARCHAR" for column in header if column not in typed}


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
                f"table {t}: not found in {path}; expected {t}.parquet, {t}.csv(.gz), "
                f"{t}.jsonl(.gz), a {t}/ folder of such parts, a table '{t}' in a DuckDB file, "
                f"or data.{t}.path in the config"
                for t in missing
            ]
        )
