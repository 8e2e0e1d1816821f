"""`churn forget`, as wiring: erase customers from everything the project wrote.

Every scored day (republished through the catalog's publish path, its manifest recounted with a
note), every feature matrix file, and a check of every HTML report (aggregates, and the call
list by pseudonymous id: one naming a forgotten id is listed, to be reported again).
Found under the var dir, plus any --scores folder and --features file named. Then one record is
appended to the erasure log: when, keyed SHA-256 (HMAC) hashes of the ids, never an id, and
what each file lost. The input datasets are not touched: they belong to their source.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.errors import ChurnError
from pipelines.catalog import erasure
from pipelines.catalog import scores as score_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erased:
    """One file or scored day that was checked, and what it lost."""

    kind: str  # scores | features | report
    path: str
    rows: int  # rows removed (for a report: ids it mentions)
    left: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "rows_removed": self.rows, "left": self.left}


@dataclass
class ForgetOutputs:
    requested: int
    found: set[str] = field(default_factory=set)
    files: list[Erased] = field(default_factory=list)
    reports_mentioning: dict[str, int] = field(default_factory=dict)
    log: Path | None = None
    key_source: str = ""

    @property
    def not_found(self) -> int:
        return self.requested - len(self.found)


def read_ids(path: Path) -> list[str]:
    """One customer id a line; blank lines and surrounding spaces ignored, duplicates once."""
    path = Path(path)
    if not path.is_file():
        raise ChurnError(f"--customers {path}: no such file; give a text file with one id a line")
    ids = list(dict.fromkeys(line.strip() for line in path.read_text().splitlines()))
    ids = [value for value in ids if value]
    if not ids:
        raise ChurnError(f"--customers {path}: no customer id in it (one id a line)")
    return ids


def hashed(ids: Iterable[str], key: bytes) -> list[str]:
    """HMAC-SHA256 of each id, sorted: the same id always gives the same hash under one key, and
    short or sequential ids cannot be recovered by hashing guesses without the key."""
    return sorted(hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for value in ids)


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list({Path(path).resolve(): Path(path) for path in paths}.values())


def run_forget(
    customers: Path,
    var_dir: Path,
    scores: Iterable[Path] = (),
    features: Iterable[Path] = (),
    log_path: Path | None = None,
) -> ForgetOutputs:
    """`churn forget`: remove the customers listed in `customers` from every output found."""
    ids = read_ids(customers)
    wanted = set(ids)
    var_dir = Path(var_dir)
    log_path = Path(log_path) if log_path else var_dir / "erasure-log.jsonl"
    key, key_source = erasure.erasure_key(var_dir)  # before anything changes: fail early
    at = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    note = {"at": at, "log": str(log_path), "note": "customers erased on request (churn forget)"}
    out = ForgetOutputs(requested=len(ids), key_source=key_source)
    for folder in scores:
        if not score_store.scored_days(folder):
            raise ChurnError(f"--scores {folder}: no scored day in it; pass `churn score --out`")
    roots = _unique([*score_store.scores_roots(var_dir), *map(score_store.scores_root, scores)])
    for root in roots:
        for day in score_store.scored_days(root):
            dropped = score_store.drop_customers(root, day, wanted, note)
            out.found |= dropped.customers
            where = str(score_store.day_folder(root.parent, pd.Timestamp(day, tz="UTC")))
            out.files.append(Erased("scores", where, dropped.rows, dropped.left))
    for path in _unique([*erasure.matrix_files(var_dir), *features]):
        dropped = erasure.drop_from_matrix(path, wanted)
        out.found |= dropped.customers
        out.files.append(Erased("features", str(path), dropped.rows, dropped.left))
    for path in erasure.report_files(var_dir):
        mentioned = erasure.ids_in_report(path, wanted)
        out.files.append(Erased("report", str(path), len(mentioned), 0))
        if mentioned:
            out.reports_mentioning[str(path)] = len(mentioned)
            log.warning("%s mentions %d id(s): rerun `churn report` for it", path, len(mentioned))
    record = {
        "at": at,
        "hash": "hmac-sha256",
        "key": key_source,
        "ids": hashed(ids, key),
        "requested": out.requested,
        "found": len(out.found),
        "not_found": out.not_found,
        "files": [entry.to_dict() for entry in out.files],
    }
    out.log = erasure.append_erasure_log(log_path, record)
    return out


def summary(out: ForgetOutputs) -> str:
    """What `churn forget` prints: counts only, never an id."""
    kinds = {kind: [e for e in out.files if e.kind == kind] for kind in ("scores", "features")}
    lines = [
        f"erased:   {len(out.found):,} of {out.requested:,} customer id(s) found; "
        f"{out.not_found:,} not found anywhere",
    ]
    for kind, entries in kinds.items():
        changed = [entry for entry in entries if entry.rows]
        unit = "day(s)" if kind == "scores" else "file(s)"
        lines.append(
            f"{kind + ':':<9} {len(entries)} {unit} checked, {len(changed)} rewritten, "
            f"{sum(entry.rows for entry in entries):,} row(s) removed"
        )
    reports = [entry for entry in out.files if entry.kind == "report"]
    mentioning = ", ".join(f"{path} ({n})" for path, n in out.reports_mentioning.items())
    lines.append(
        f"reports:  {len(reports)} checked, "
        + (f"ids found in {mentioning}: rerun `churn report`" if mentioning else "none names an id")
    )
    lines.append(f"log:      {out.log} (ids as HMAC-SHA256, key {out.key_source})")
    lines.append("inputs:   datasets untouched: erase them at the source before the next score")
    return "\n".join(lines)
