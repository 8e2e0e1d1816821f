"""Small in-memory datasets for the feature tests, built from plain rows."""

from __future__ import annotations

import ibis
import pandas as pd

from features.dataset import Dataset

CUTOFF = pd.Timestamp("2024-06-01", tz="UTC")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def customers_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, signup_at, plan, country, plan_price)."""
    frame = pd.DataFrame(
        rows, columns=["customer_id", "signup_at", "plan", "country", "plan_price"]
    )
    frame["signup_at"] = pd.to_datetime(frame["signup_at"], utc=True).astype("datetime64[us, UTC]")
    return frame


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, ts, event, value, session_id)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "event", "value", "session_id"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
    frame["value"] = frame["value"].astype("float64")
    frame["session_id"] = frame["session_id"].astype("string")
    return frame


def in_memory_dataset(customers: pd.DataFrame, events: pd.DataFrame) -> Dataset:
    """A DuckDB-backed dataset over in-memory frames (no files)."""
    con = ibis.duckdb.connect()
    return Dataset(
        con=con,
        customers=con.create_table("customers", customers),
        events=con.create_table("events", events),
        labels=None,
        source=None,
    )
