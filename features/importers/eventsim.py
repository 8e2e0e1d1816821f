"""eventsim / Sparkify page log -> page events with sessions; personal data is dropped.

Only the contract's needs are read from each record (userId, ts, page, sessionId, length,
registration). Names, gender, location, user agent and what someone listened to (artist, song)
never leave this module: they are not selected, so they cannot leak into outputs or logs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.importers.common import (
    ImportSummary,
    locate_source,
    require_columns,
    snake_case,
    write_customers_and_events,
)

log = logging.getLogger(__name__)

SOURCE_PATTERNS = ("log_data_*.jsonl.gz", "*.jsonl.gz", "*.jsonl", "*.json")
KEPT_COLUMNS = ["userId", "ts", "page", "sessionId", "length", "registration"]


def read_log(path: Path) -> pd.DataFrame:
    """Read the JSON lines, keeping only the columns the contract needs."""
    # dtype=False: no guessing (userId stays text, ms stay integers).
    frame = pd.read_json(path, lines=True, dtype=False, compression="infer")
    require_columns(frame, KEPT_COLUMNS, path)
    return frame[KEPT_COLUMNS]


def logged_in(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a user id; logged-out page views belong to nobody and cannot be features."""
    user = rows["userId"].astype("string").str.strip()
    return rows.loc[user.notna() & (user != "")].assign(userId=user)


def _ms_to_utc(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms.astype("int64"), unit="ms", utc=True).astype("datetime64[us, UTC]")


def rows_to_events(rows: pd.DataFrame) -> pd.DataFrame:
    """Page views as events: snake_case page name, session id as text, song length in seconds."""
    events = pd.DataFrame(
        {
            "customer_id": rows["userId"].astype(str).to_numpy(),
            "ts": _ms_to_utc(rows["ts"]).to_numpy(),
            "event": rows["page"].map(snake_case).to_numpy(),
            "value": rows["length"].astype("float64").to_numpy(),
            # Session numbers are integers in the source; the contract keys sessions as text.
            "session_id": rows["sessionId"].astype("int64").astype(str).to_numpy(),
        }
    )
    events["ts"] = events["ts"].astype("datetime64[us, UTC]")
    return events.sort_values(["customer_id", "ts", "event"], kind="stable", ignore_index=True)


def rows_to_customers(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per user; signup is the registration time (earliest, should it ever vary)."""
    first = rows.groupby("userId", sort=True).agg(
        registration=("registration", "min"), first_ts=("ts", "min")
    )
    # A missing or later registration becomes the first event: signup never follows activity.
    repaired = first["registration"].isna() | (first["registration"] > first["first_ts"])
    if repaired.any():
        log.warning("eventsim: %d users' signup set to their first event", int(repaired.sum()))
    registered = first["registration"].where(~repaired, first["first_ts"])
    return pd.DataFrame(
        {"customer_id": first.index.astype(str), "signup_at": _ms_to_utc(registered).to_numpy()}
    ).astype({"signup_at": "datetime64[us, UTC]"})


def import_eventsim(src: Path, out: Path) -> ImportSummary:
    """Convert an eventsim JSON-lines log (or its folder) into a dataset folder at `out`."""
    path = locate_source(src, "eventsim", SOURCE_PATTERNS)
    raw = read_log(path)
    rows = logged_in(raw)
    events = rows_to_events(rows)
    customers = rows_to_customers(rows)
    write_customers_and_events(out, customers, events)
    dropped = len(raw) - len(rows)
    notes = [
        f"{len(raw):,} source rows; {dropped:,} logged-out rows without a user id dropped",
        f"{events['session_id'].nunique():,} session ids, {events['event'].nunique()} page kinds",
        "names, gender, location, user agent, artist and song are not kept",
    ]
    log.info("eventsim: %s", "; ".join(notes))
    return ImportSummary("eventsim", Path(out), len(customers), len(events), notes=notes)
