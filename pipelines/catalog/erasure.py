"""What `churn forget` reads and rewrites besides the scored days: feature matrices written by
`churn features --out`, HTML reports (checked: only their call list names customers), and the
erasure log with the secret key its id hashes are made with."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.errors import ChurnError
from pipelines.catalog.datasets import write_matrix
from pipelines.catalog.scores import Dropped

# A feature matrix has a customer per row and its cutoff; dataset tables and truth do not.
MATRIX_COLUMNS = {"customer_id", "cutoff"}
# Embedded images (base64) are not text a person reads, and would match short ids by chance.
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_TOKEN = re.compile(r"[^\s<>\"'=,;:()\[\]{}|]+")
KEY_ENV = "CHURN_ERASURE_KEY"


def _visible(path: Path, under: Path) -> bool:
    """Not inside a hidden (staging, retired) folder."""
    return not any(part.startswith(".") for part in path.relative_to(under).parts)


def matrix_files(under: Path) -> list[Path]:
    """Feature matrices below a folder: Parquet files with a customer_id and a cutoff column
    (only the footer is read), outside hidden folders."""
    under = Path(under)
    found = []
    for path in sorted(under.rglob("*.parquet")) if under.is_dir() else []:
        if not _visible(path, under):
            continue
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, ValueError):  # not ours to judge here: validation names bad files
            continue
        if names >= MATRIX_COLUMNS:
            found.append(path)
    return found


def drop_from_matrix(path: Path, ids: set[str]) -> Dropped:
    """Rewrite a feature matrix file without those customers' rows (atomically, other rows
    as they were); a file none of them is in is left untouched."""
    path = Path(path)
    if not path.is_file():
        raise ChurnError(f"feature matrix {path}: no such file; pass a `churn features --out` file")
    matrix = pd.read_parquet(path)
    if "customer_id" not in matrix.columns:
        raise ChurnError(f"{path}: not a feature matrix (no customer_id column)")
    gone = matrix["customer_id"].isin(ids)
    removed = int(gone.sum())
    if removed:
        write_matrix(matrix[~gone].reset_index(drop=True), path)
    return Dropped(frozenset(matrix.loc[gone, "customer_id"]), removed, len(matrix) - removed)


def report_files(under: Path) -> list[Path]:
    """HTML reports below a folder (var/reports and the copies logged to a local mlflow store)."""
    under = Path(under)
    files = sorted(under.rglob("*.html")) if under.is_dir() else []
    return [path for path in files if _visible(path, under)]


def ids_in_report(path: Path, ids: set[str]) -> frozenset[str]:
    """The ids that appear as a word of a report's text (images left out): the call list's
    customers; elsewhere reports show aggregates (a short numeric id can match a count)."""
    text = _DATA_URI.sub(" ", Path(path).read_text(encoding="utf-8", errors="replace"))
    return frozenset(ids & set(_TOKEN.findall(text)))


def erasure_key(var_dir: Path) -> tuple[bytes, str]:
    """The secret the log's id hashes are keyed with, and where it comes from: CHURN_ERASURE_KEY,
    else VAR/erasure-key (created once, owner-only). Without it a hash cannot be checked."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode(), f"${KEY_ENV}"
    path = Path(var_dir) / "erasure-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(handle, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    key = path.read_text().strip().encode()
    if not key:
        raise ChurnError(f"erasure key {path} is empty; restore it from a backup or set {KEY_ENV}")
    return key, str(path)


def append_erasure_log(path: Path, record: dict) -> Path:
    """One JSON line appended to the erasure log, flushed to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")
        log.flush()
        os.fsync(log.fileno())
    return path
