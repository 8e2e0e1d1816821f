"""What the first-party importers (Segment, GA4) share: finding the export's part files, reading
JSON lines or Parquet, and turning ids, nested fields and timestamps into contract values.

Exports arrive as one file or as a folder of parts (S3 / GCS dumps, nested by date), plain or
gzip-compressed. Every error names the part file, so a bad line can be found in a large dump.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.importers.common import ImportSourceError

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
CHUNK_ROWS = 25_000


def _accepts(path: Path, parquet: bool) -> bool:
    name = path.name.lower()
    if name.startswith((".", "_")):  # hidden files, Spark's _SUCCESS markers
        return False
    if parquet and name.endswith(PARQUET_SUFFIXES):
        return True
    # Segment's S3 parts are `<epoch>.<uuid>.gz`: gzip-compressed JSON lines without `.json`.
    return name.endswith(JSON_SUFFIXES) or name.endswith(".gz")


def source_parts(src: Path, kind: str, parquet: bool = False) -> list[Path]:
    """SRC itself if it is a file, else every part under folder SRC (recursively, sorted)."""
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ImportSourceError(f"{kind}: source {src} does not exist; pass the file or folder")
    parts = sorted(p for p in src.rglob("*") if p.is_file() and _accepts(p, parquet))
    if not parts:
        wanted = "JSON lines (.jsonl/.json, optionally .gz)" + (" or Parquet" if parquet else "")
        raise ImportSourceError(f"{kind}: no {wanted} files in {src}")
    return parts


def read_chunks(
    path: Path, columns: list[str] | None = None, rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """One part in frames of up to `rows` rows, indexed by row number in the file, so an
    export larger than memory as raw JSON only needs its converted columns in memory.

    Parquet by its suffix (only `columns`), anything else JSON lines (gzip by `.gz`). JSON ids
    and counters stay exact: the pyarrow backend keeps integers with nulls as integers (numpy
    would make them floats); nested objects stay Python dicts and lists.
    """
    rows = rows or CHUNK_ROWS
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        present = [c for c in columns if c in names] if columns is not None else names
        seen = 0
        for batch in source.iter_batches(batch_size=rows, columns=present):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(seen, seen + len(frame))
            seen += len(frame)
            yield frame
        return
    if path.stat().st_size == 0:
        return
    try:
        reader = pd.read_json(
            path,
            lines=True,
            dtype=False,
            compression="infer",
            dtype_backend="pyarrow",
            chunksize=rows,
        )
        with reader:
            yield from reader
    except (ValueError, OSError, EOFError) as exc:
        raise ImportSourceError(f"{path}: not JSON lines ({exc})") from None


def require_fields(
    frame: pd.DataFrame, fields: list[str], path: Path, rows: str = "row(s)"
) -> None:
    """Fail naming the file, the field and the first line where a field is missing (the frame's
    index is the 0-based line number as read, blank lines not counted; a subset keeps its
    lines)."""
    for name in fields:
        absent = frame[name].isna() if name in frame.columns else pd.Series(True, frame.index)
        if absent.any():
            where = f"missing in {int(absent.sum()):,} {rows}, first on line {absent.idxmax() + 1}"
            raise ImportSourceError(f"{path}: required field `{name}` {where}")


def field(frame: pd.DataFrame, name: str) -> pd.Series:
    """A top-level column, or all-missing when the export left it out (null fields often are)."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(None, index=frame.index, dtype=object)


def nested(series: pd.Series, key: str) -> pd.Series:
    """`series[i][key]` for the rows holding an object, else missing; values keep their type."""
    return pd.Series(
        [value.get(key) if isinstance(value, dict) else None for value in series],
        index=series.index,
        dtype=object,
    )


def missing(value: object) -> bool:
    """None, pandas' NA or a float NaN (what a JSON null becomes in a column)."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _id(value: object) -> str | None:
    if missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 12.0 from a mixed column is the id 12
    text = str(value).strip()
    return text or None


def id_text(series: pd.Series) -> pd.Series:
    """Ids (strings or integers in the source) as text; empty and blank ids are missing."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "integer", "empty"):
        text = series.astype("string").str.strip()  # the common case, vectorized
        return text.mask(text == "")
    return pd.Series([_id(v) for v in series], index=series.index, dtype="string")


def amount(series: pd.Series) -> pd.Series:
    """Money and other amounts as float64; text that is not a number becomes missing."""
    return pd.to_numeric(series.astype(object), errors="coerce").astype("float64")


def attribute_column(values: pd.Series) -> pd.Series:
    """A profile attribute of mixed JSON values as one column type: booleans, integers, floats,
    or else text (objects and lists as their JSON)."""
    present = [v for v in values if not missing(v)]
    if present and all(isinstance(v, bool) for v in present):
        return values.astype("boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values.astype("Int64")
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return values.astype("float64")
    return pd.Series(
        [
            None if missing(v) else json.dumps(v) if isinstance(v, dict | list) else str(v)
            for v in values
        ],
        index=values.index,
        dtype="string",
    )
