"""CDNOW purchase log (Fader & Hardie) -> purchase events with a dollar value.

Non-contractual: there is no churn event, churn is "no purchase for N days" (configs/cdnow.yaml).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.importers.common import (
    EVENTS_SCHEMA,
    ImportSummary,
    locate_source,
    require_columns,
    write_customers_and_events,
)

log = logging.getLogger(__name__)

SOURCE_PATTERNS = ("CDNOW_master.txt.gz", "CDNOW_master.txt", "CDNOW*.txt*")
SOURCE_COLUMNS = ["customer_id", "date", "number_of_cds", "dollar_value"]
PURCHASE_EVENT = "purchase"


def read_purchases(path: Path) -> pd.DataFrame:
    """Read the whitespace-separated log, keeping the zero-padded customer id as text."""
    frame = pd.read_csv(
        path, sep=r"\s+", dtype={"customer_id": str, "date": str}, engine="c", header=0
    )
    require_columns(frame, SOURCE_COLUMNS, path)
    return frame


def purchases_to_events(purchases: pd.DataFrame) -> pd.DataFrame:
    """One `purchase` event per customer and day, value = the day's dollars, at 00:00 UTC.

    The log has only a date, so several orders of one customer on one day would become events
    at the same instant, some of them identical (the shipped file's 69,659 rows hold 67,591
    customer-days and 255 rows that copy another exactly), and validation drops exact
    duplicates. Summing them per customer-day keeps every dollar and makes a "purchase"
    mean "a day with purchases", which is what recency/frequency models count anyway.
    """
    daily = (
        purchases.groupby(["customer_id", "date"], sort=True, as_index=False)["dollar_value"]
        .sum()
        .rename(columns={"dollar_value": "value"})
    )
    daily["ts"] = pd.to_datetime(daily["date"], format="%Y%m%d", utc=True).astype(
        "datetime64[us, UTC]"
    )
    daily["event"] = PURCHASE_EVENT
    daily["value"] = daily["value"].astype("float64").round(2)
    daily["session_id"] = None
    return daily[EVENTS_SCHEMA.names]


def customers_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """Every buyer, keeping the source id; signup is the first purchase day (no other record)."""
    first = events.groupby("customer_id", sort=True, as_index=False)["ts"].min()
    return first.rename(columns={"ts": "signup_at"})


def import_cdnow(src: Path, out: Path) -> ImportSummary:
    """Convert the CDNOW master file (or its folder) into a dataset folder at `out`."""
    path = locate_source(src, "cdnow", SOURCE_PATTERNS)
    purchases = read_purchases(path)
    events = purchases_to_events(purchases)
    customers = customers_from_events(events)
    write_customers_and_events(out, customers, events)
    note = (
        f"{len(purchases):,} purchase rows summed into {len(events):,} customer-day purchase "
        f"events, {events['ts'].min():%Y-%m-%d} to {events['ts'].max():%Y-%m-%d}"
    )
    log.info("cdnow: %s", note)
    return ImportSummary("cdnow", Path(out), len(customers), len(events), notes=[note])
