"""Nightly scores: OUT/scores/as_of=YYYY-MM-DD/ (Parquet parts + manifest.json), published whole.

Each day is a pointer to an immutable version folder (pipelines.catalog.publish); readers here
resolve it once and read that version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_directory
from features.contract import SCORES
from features.errors import ChurnError
from models.drift import DriftSummary
from pipelines.catalog.publish import publish_version, resolve_day
from pipelines.manifest import ScoreManifest

SCORES_ARROW = SCORES.arrow()
MANIFEST = "manifest.json"


def scores_root(path: Path) -> Path:
    """Accept the score job's --out folder or its `scores/` folder."""
    path = Path(path)
    return path / "scores" if (path / "scores").is_dir() else path


def day_folder(out: Path, as_of: pd.Timestamp) -> Path:
    return Path(out) / "scores" / f"as_of={as_of:%Y-%m-%d}"


# A staging folder that becomes the day's published version only if the block succeeds, under
# the day's lock; `keep` earlier versions stay (0 removes them, e.g. after an erasure).
publish_day = publish_version


def write_scores_part(rows: pd.DataFrame, staging: Path, number: int) -> None:
    """One Parquet part with the contract's scores schema (same rows, same bytes)."""
    table = pa.Table.from_pandas(rows, schema=SCORES_ARROW, preserve_index=False)
    pq.write_table(table, staging / f"part-{number:05d}.parquet", compression="zstd")


def rows_written(staging: Path) -> int:
    return sum(pq.read_metadata(part).num_rows for part in staging.glob("part-*.parquet"))


def write_manifest(staging: Path, manifest: dict) -> None:
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def scored_days(path: Path) -> list[str]:
    """The dates (YYYY-MM-DD) of every published day under a scores folder, oldest first."""
    return sorted({part.parent.name[6:] for part in scores_root(path).glob("as_of=*/*.parquet")})


def previous_night(
    out: Path, as_of: pd.Timestamp, model_version: str, max_gap_days: int
) -> tuple[str, DriftSummary] | None:
    """The latest night before `as_of`, at most `max_gap_days` earlier, scored by the same
    model version: its date and drift summary (tonight's like-for-like reference)."""
    earliest = as_of - pd.Timedelta(days=max_gap_days)
    root = Path(out) / "scores"
    for entry in sorted(root.glob("as_of=*"), reverse=True):
        day = pd.Timestamp(entry.name.removeprefix("as_of="), tz="UTC")
        folder = resolve_day(root, entry.name.removeprefix("as_of="))
        if not earliest <= day < as_of or folder is None or not (folder / MANIFEST).is_file():
            continue
        manifest = ScoreManifest.from_dict(json.loads((folder / MANIFEST).read_text()))
        if manifest.model_version == model_version:
            return manifest.as_of, manifest.drift
    return None


def load_scores(path: Path, as_of: str | None = None) -> tuple[pd.DataFrame, ScoreManifest | None]:
    """The scores of one day (default: the latest `as_of=` partition) and its manifest."""
    root = scores_root(path)
    scored = scored_days(root)
    days = [resolve_day(root, day) for day in scored if as_of in (None, day)]
    if scored and as_of is not None and not days:
        raise ChurnError(
            f"scores {root}: no scored day {as_of} (scored: {', '.join(scored[-5:])}"
            f"{' and earlier' if len(scored) > 5 else ''}); pick one of them with --as-of"
        )
    if not days or days[-1] is None:
        raise ChurnError(
            f"scores {root}: no as_of=YYYY-MM-DD folder with Parquet parts; "
            "run `churn score --out DIR` first and pass that DIR"
        )
    day = days[-1]
    scores = pd.concat(
        [pd.read_parquet(part) for part in sorted(day.glob("*.parquet"))], ignore_index=True
    )
    manifest_path = day / MANIFEST
    if not manifest_path.is_file():
        return scores, None
    return scores, ScoreManifest.from_dict(json.loads(manifest_path.read_text()))


# What a day carries since tiers come from decisions (models.decisions); a day scored before has
# neither, and the call list and the report need both.
DECIDED_COLUMNS = ("expected_profit", "control")


def load_decided_scores(
    path: Path, as_of: str | None = None
) -> tuple[pd.DataFrame, ScoreManifest | None]:
    """As `load_scores`, refusing in one line a day scored before decisions."""
    scores, manifest = load_scores(path, as_of)
    missing = [column for column in DECIDED_COLUMNS if column not in scores.columns]
    if missing:
        day = f"{pd.Timestamp(scores['as_of'].iloc[0]):%Y-%m-%d}" if len(scores) else as_of
        raise ChurnError(
            f"scores {scores_root(path)}: the day {day} was scored before decisions (it has no "
            f"{' or '.join(missing)}); score it again (churn score --as-of {day}) or pick a "
            "later day with --as-of"
        )
    return scores, manifest


def night_manifests(path: Path, until: str | None = None) -> list[dict]:
    """The manifest of every scored day up to `until` (all by default), oldest first, each with
    the night's mean churn probability (read from its one column) as `mean_churn_probability`."""
    root = scores_root(path)
    nights = []
    for day in scored_days(root):
        folder = resolve_day(root, day)
        if (until is not None and day > until) or folder is None:
            continue
        if not (folder / MANIFEST).is_file():
            continue
        entry = json.loads((folder / MANIFEST).read_text())
        probability = [
            pd.read_parquet(part, columns=["churn_probability"])["churn_probability"]
            for part in sorted(folder.glob("*.parquet"))
        ]
        entry["mean_churn_probability"] = float(pd.concat(probability).mean())
        nights.append(entry)
    return nights


def find_ledger(
    scores: Path, var_dir: Path | None = None
) -> tuple[pd.DataFrame | None, list[Path]]:
    """The backtest ledger beside the scores (OUT/backtest/, OUT being the score job's --out)
    or under the var dir, and the places looked in."""
    root = scores_root(scores)
    places = [root.parent / "backtest" / "ledger.parquet"] if root.name == "scores" else []
    if var_dir is not None:
        places.append(Path(var_dir) / "backtest" / "ledger.parquet")
    for place in places:
        if place.is_file():
            return pd.read_parquet(place), places
    return None, places


def write_ledger(ledger: pd.DataFrame, record: dict, out: Path) -> Path:
    """`out/backtest/`: ledger.parquet and ledger.json (no customer id), whole or not at all."""
    with atomic_directory(Path(out) / "backtest", "churn backtest") as staging:
        ledger.to_parquet(staging / "ledger.parquet", index=False)
        (staging / "ledger.json").write_text(json.dumps(record, indent=1) + "\n")
    return Path(out) / "backtest"


class Dropped(NamedTuple):
    """What erasing customers took out of one file or scored day."""

    customers: frozenset[str]  # the ids that were there
    rows: int  # rows removed
    left: int  # rows left


def scores_roots(under: Path) -> list[Path]:
    """Every `scores/` folder with published days below a folder (e.g. the var dir)."""
    under = Path(under)
    found = {
        day.parent
        for day in under.rglob("as_of=*")
        if day.parent.name == "scores"
        and not any(part.startswith(".") for part in day.relative_to(under).parts)
    }
    return sorted(root for root in found if scored_days(root))


def drop_customers(path: Path, day: str, ids: set[str], note: dict) -> Dropped:
    """Republish one scored day without the customers in `ids`, through the nightly publish
    path (under the day's lock, whole or not at all, earlier versions removed: they hold the
    customers too); its manifest is recounted and `note` joins its `erasures`. A day none of
    them is in is left untouched."""
    root = scores_root(path)
    version = resolve_day(root, day)
    if not _holds_any(version, ids):
        return Dropped(frozenset(), 0, 0 if version is None else rows_written(version))
    if root.name != "scores":
        raise ChurnError(f"scores {root}: pass the score job's --out folder or its scores/ folder")
    with publish_day(root.parent, pd.Timestamp(day, tz="UTC"), keep=0) as staging:
        folder = resolve_day(root, day)  # read again under the lock: the version we replace
        parts = [pd.read_parquet(part) for part in sorted(folder.glob("part-*.parquet"))]
        kept = [rows[~rows["customer_id"].isin(ids)] for rows in parts]
        removed = sum(map(len, parts)) - sum(map(len, kept))
        for number, rows in enumerate(kept):
            write_scores_part(rows, staging, number)
        if (folder / MANIFEST).is_file():
            manifest = json.loads((folder / MANIFEST).read_text())
            write_manifest(staging, recounted(manifest, kept, removed, note))
    present = set().union(*(set(rows["customer_id"]) for rows in parts))
    return Dropped(frozenset(ids & present), removed, sum(map(len, kept)))


def _holds_any(folder: Path | None, ids: set[str]) -> bool:
    """Whether a day's version holds one of the ids (only the id column is read)."""
    parts = sorted(folder.glob("part-*.parquet")) if folder is not None else []
    return any(
        pq.read_table(part, columns=["customer_id"]).column(0).to_pandas().isin(ids).any()
        for part in parts
    )


RECOUNTED = "rows, active_customers, data.rows, tiers; data.hash and drift are as scored"


def recounted(manifest: dict, kept: list[pd.DataFrame], removed: int, note: dict) -> dict:
    """The day's manifest with its counts and tiers recounted on the rows kept; `data.hash` and
    `drift` still describe the night as it was scored, as the note says."""
    from models.scoring import TierSummary

    tiers = TierSummary()
    for rows in kept:
        tiers.add(rows)
    data = manifest.get("data", {})
    return {
        **manifest,
        "rows": manifest["rows"] - removed,
        "active_customers": manifest.get("active_customers", removed) - removed,
        "data": {**data, "rows": data.get("rows", removed) - removed},
        "tiers": tiers.to_dict(),
        "erasures": [
            *manifest.get("erasures", []),
            {**note, "rows_removed": removed, "recounted": RECOUNTED},
        ],
    }
