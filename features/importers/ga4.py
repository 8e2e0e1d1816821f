"""GA4 BigQuery export (rows of the `events_YYYYMMDD` tables) -> events and customers.

Input: the tables exported as JSON lines (BigQuery writes INT64 as JSON strings; both strings and
numbers are read) or Parquet, one file or a folder of parts, optionally gzip-compressed.

What is read from each row: `event_name`, `event_timestamp` (microseconds since the epoch, UTC),
`user_id`, `user_pseudo_id`, `user_first_touch_timestamp`, the `event_params` keys
`ga_session_id` and `value`, and `ecommerce.purchase_revenue` (else
`ecommerce.purchase_revenue_in_usd`). Device, geo, traffic source, user properties and every
other parameter (page URLs can hold emails and tokens) are not read; with `page_paths` (opt-in)
a page_view is named by its `page_location` path only (`page_view:/help`), so the FAQ and
cancel pages can be mapped as signals.

Identity: the customer id is `user_id` when set, else `user_pseudo_id` (a browser or app
instance). A pseudo id seen on any row together with a user id is that user's: all its rows,
before and after sign-in, get the user id (the earliest user id, by event time, if it was seen
with several; the summary counts them). Pseudo ids never seen with a user id stay customers of
their own. Rows with neither id (consent-mode pings) are dropped and counted.

Value: a `purchase` event's ecommerce purchase revenue, else the event's `value` parameter.
Sessions: `ga_session_id` is the session's start in seconds, unique only within one pseudo id,
so the session id is `<customer id>:<ga_session_id>`.
Signup: the customer's earliest `user_first_touch_timestamp`, or first event if earlier or unset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from features.importers.common import (
    ImportSourceError,
    ImportSummary,
    write_customers_and_events,
)
from features.importers.parts import (
    amount,
    field,
    id_text,
    missing,
    nested,
    read_chunks,
    require_fields,
    source_parts,
)

log = logging.getLogger(__name__)

REQUIRED = ["event_name", "event_timestamp", "user_pseudo_id"]
READ_COLUMNS = [
    *REQUIRED,
    "user_id",
    "user_first_touch_timestamp",
    "event_params",
    "ecommerce",
]
PURCHASE_EVENT = "purchase"
# Which member of a parameter's `value` record holds it, in order of preference.
NUMBER_FIELDS = ("double_value", "float_value", "int_value", "string_value")
ID_FIELDS = ("int_value", "string_value")


def utc_from_micros(values: pd.Series, path: Path, name: str) -> pd.Series:
    """Microseconds since the epoch (numbers or numeric strings) as UTC; missing stay NaT."""
    numbers = pd.to_numeric(values.astype(object), errors="coerce")
    bad = numbers.isna() & ~values.astype(object).map(missing)
    if bad.any():
        line = int(bad.idxmax())
        raise ImportSourceError(
            f"{path}: `{name}` is not microseconds since the epoch on line {line + 1} "
            f"({values[line]!r})"
        )
    return pd.to_datetime(numbers, unit="us", utc=True).astype("datetime64[us, UTC]")


def _flat_params(params: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Every row's parameters, one per line, keyed by the row: their keys and value records."""
    lists = params.map(lambda p: list(p) if isinstance(p, list | np.ndarray) else [])
    flat = lists.explode().dropna()
    return nested(flat, "key"), nested(flat, "value")


def param(keys: pd.Series, values: pd.Series, key: str, fields: tuple[str, ...]) -> pd.Series:
    """Parameter `key` of each row (the first such parameter), from the first field set."""
    records = values.loc[keys == key]
    records = records.loc[~records.index.duplicated()]
    chosen = pd.Series(None, index=records.index, dtype=object)
    for name in fields:
        chosen = chosen.where(~chosen.map(missing), nested(records, name))
    return chosen


def read_rows(path: Path, page_paths: bool = False) -> pd.DataFrame:
    """One part's rows with the fields the contract needs, checked, in file order."""
    chunks = [chunk_rows(frame, path, page_paths) for frame in read_chunks(path, READ_COLUMNS)]
    chunks = [chunk for chunk in chunks if not chunk.empty]
    return pd.concat(chunks) if chunks else pd.DataFrame()


def page_path(location: pd.Series) -> pd.Series:
    """A page URL's path alone (no host, query or fragment, where tokens and emails hide)."""
    return location.map(
        lambda url: None if missing(url) else (urlsplit(str(url)).path.rstrip("/") or "/")
    )


def chunk_rows(frame: pd.DataFrame, path: Path, page_paths: bool = False) -> pd.DataFrame:
    """Rows of one chunk of a part (indexed by line) as the columns the contract needs;
    `page_paths` names each page_view by its URL path (`page_view:/help`)."""
    if frame.empty:
        return frame
    require_fields(frame, ["event_name", "event_timestamp"], path)
    if "user_pseudo_id" not in frame.columns and "user_id" not in frame.columns:
        raise ImportSourceError(f"{path}: required field `user_pseudo_id` is absent")
    keys, values = _flat_params(field(frame, "event_params"))
    session = param(keys, values, "ga_session_id", ID_FIELDS).reindex(frame.index)
    event = frame["event_name"].astype("string").str.strip()
    if page_paths:
        where = page_path(param(keys, values, "page_location", ("string_value",)))
        where = where.reindex(frame.index)
        named = (event == "page_view") & where.notna()
        event = event.where(~named, "page_view:" + where.astype("string"))
    ecommerce = field(frame, "ecommerce")
    revenue = amount(nested(ecommerce, "purchase_revenue")).fillna(
        amount(nested(ecommerce, "purchase_revenue_in_usd"))
    )
    value = revenue.where(event == PURCHASE_EVENT).fillna(
        amount(param(keys, values, "value", NUMBER_FIELDS).reindex(frame.index))
    )
    return pd.DataFrame(
        {
            "user_id": id_text(field(frame, "user_id")),
            "pseudo_id": id_text(field(frame, "user_pseudo_id")),
            "ts": utc_from_micros(frame["event_timestamp"], path, "event_timestamp"),
            "first_touch": utc_from_micros(
                field(frame, "user_first_touch_timestamp"), path, "user_first_touch_timestamp"
            ),
            "event": event,
            "value": value.astype("float64"),
            "ga_session_id": id_text(session),
        }
    )


def pseudo_links(rows: pd.DataFrame) -> tuple[pd.Series, int]:
    """pseudo id -> user id from rows carrying both, the earliest winning; and the conflicts."""
    both = rows.loc[rows["user_id"].notna() & rows["pseudo_id"].notna()]
    both = both.sort_values("ts", kind="stable")
    conflicts = int((both.groupby("pseudo_id")["user_id"].nunique() > 1).sum())
    first = both.drop_duplicates("pseudo_id", keep="first")
    return first.set_index("pseudo_id")["user_id"], conflicts


def resolve_customers(rows: pd.DataFrame, links: pd.Series) -> pd.Series:
    """user_id, else the pseudo id's linked user id, else the pseudo id itself."""
    linked = rows["pseudo_id"].map(links).astype("string")
    return rows["user_id"].fillna(linked).fillna(rows["pseudo_id"])


def rows_to_events(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a customer as contract events; sessions keyed by customer, sorted."""
    rows = rows.loc[rows["customer_id"].notna()]
    session = rows["customer_id"] + ":" + rows["ga_session_id"]
    events = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str).to_numpy(),
            "ts": rows["ts"].to_numpy(),
            "event": rows["event"].astype(str).to_numpy(),
            "value": rows["value"].to_numpy(dtype="float64"),
            "session_id": session.to_numpy(dtype=object, na_value=None),
        }
    )
    events["ts"] = events["ts"].astype("datetime64[us, UTC]")
    return events.sort_values(["customer_id", "ts", "event"], kind="stable", ignore_index=True)


def rows_to_customers(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per customer; signup = first touch, or the first event when earlier or unset."""
    rows = rows.loc[rows["customer_id"].notna()]
    first = rows.groupby("customer_id", sort=True).agg(
        first_event=("ts", "min"), first_touch=("first_touch", "min")
    )
    signup = first["first_touch"].where(
        first["first_touch"].notna() & (first["first_touch"] <= first["first_event"]),
        first["first_event"],
    )
    return pd.DataFrame(
        {"customer_id": first.index.astype(str), "signup_at": signup.to_numpy()}
    ).astype({"signup_at": "datetime64[us, UTC]"})


def import_ga4(src: Path, out: Path, page_paths: bool = False) -> ImportSummary:
    """Convert a GA4 BigQuery export (JSON lines or Parquet, a file or a folder of parts);
    `page_paths` names page views by their URL path, so help and cancel pages become signals."""
    parts = source_parts(src, "ga4", parquet=True)
    rows = pd.concat([read_rows(path, page_paths) for path in parts], ignore_index=True)
    if rows.empty:
        raise ImportSourceError(f"ga4: no rows in {src}")
    links, conflicts = pseudo_links(rows)
    rows["customer_id"] = resolve_customers(rows, links)
    events = rows_to_events(rows)
    customers = rows_to_customers(rows)
    write_customers_and_events(out, customers, events)
    notes = _notes(rows, len(parts), links, conflicts)
    log.info("ga4: %s", "; ".join(notes))
    return ImportSummary("ga4", Path(out), len(customers), len(events), notes=notes)


def _notes(rows: pd.DataFrame, files: int, links: pd.Series, conflicts: int) -> list[str]:
    kept = rows.loc[rows["customer_id"].notna()]
    pseudo_only = kept["user_id"].isna() & ~kept["pseudo_id"].isin(links.index)
    linked_rows = kept["user_id"].isna() & kept["pseudo_id"].isin(links.index)
    purchases = kept["event"] == PURCHASE_EVENT
    notes = [
        f"{len(rows):,} rows in {files:,} file(s), {rows['event'].nunique():,} event names, "
        f"{rows['ts'].min():%Y-%m-%d} to {rows['ts'].max():%Y-%m-%d}",
        f"{len(links):,} pseudo ids seen with a user id: their {int(linked_rows.sum()):,} "
        "signed-out rows kept under that user id",
        f"{kept.loc[pseudo_only, 'pseudo_id'].nunique():,} customers known only by pseudo id",
        f"{int(rows['customer_id'].isna().sum()):,} rows with neither user_id nor "
        "user_pseudo_id dropped",
        f"{int(purchases.sum()):,} purchases, {int(kept.loc[purchases, 'value'].notna().sum()):,} "
        f"with revenue; {kept['ga_session_id'].notna().sum():,} rows with a session",
        "device, geo, traffic source, user properties and other parameters are not kept",
    ]
    if conflicts:
        notes.append(f"{conflicts:,} pseudo ids seen with several user ids: kept with the first")
    return notes
