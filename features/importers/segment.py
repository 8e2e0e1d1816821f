"""Segment export (JSON lines of track / page / screen / identify calls) -> events and customers.

What is read from each call: `type`, `userId`, `anonymousId`, `previousId` (alias), `event`
(track), `name` (page/screen), `timestamp` (when it happened, with its zone; `receivedAt` and
`sentAt` are delivery times and are not used), `messageId` (retried deliveries are dropped),
`properties.revenue` / `.value` / `.total` (the event's value, in that order),
`properties.session_id` or `context.sessionId`, and from identify calls only the traits named
with `--trait`. The rest of `context` (IP, user agent, location, device ids) and every other
trait (names, emails, phone numbers, addresses) is personal data and never leaves this module.

Identity: a call carrying both a user id and an anonymous id (identify calls, and every call
Segment's libraries send after one) links the anonymous id to the user id, as does an alias call
(previousId -> userId). The anonymous id's calls without a user id, before and after the link,
become that user's. An anonymous id linked to several user ids goes to the first (by timestamp);
the summary counts them. Calls of anonymous ids never linked belong to nobody and are dropped
and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.importers.common import (
    ImportSourceError,
    ImportSummary,
    write_customers_and_events,
)
from features.importers.parts import (
    amount,
    attribute_column,
    field,
    id_text,
    missing,
    nested,
    read_chunks,
    require_fields,
    source_parts,
)

log = logging.getLogger(__name__)

EVENT_TYPES = ("track", "page", "screen")
PROFILE_TYPES = (*EVENT_TYPES, "identify")  # the calls whose time can be a signup
MONEY_PROPERTIES = ("revenue", "value", "total")  # the first present is the event's value
# ISO 8601 with a zone: `Z`, `+02:00` or `+0200` at the end.
ZONED = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"
CALL_COLUMNS = [
    "type",
    "user_id",
    "anonymous_id",
    "previous_id",
    "message_id",
    "ts",
    "event",
    "value",
    "session_id",
    "traits",
]


def _text(series: pd.Series) -> pd.Series:
    """Names as text, blank ones missing."""
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def utc_timestamps(values: pd.Series, path: Path, name: str = "timestamp") -> pd.Series:
    """ISO 8601 times with a zone as UTC; a time without a zone or not a time fails, with its
    line, since guessing the zone would shift every event by hours."""
    text = values.astype("string").str.strip()
    naive = ~text.str.contains(ZONED, regex=True).fillna(True).astype(bool)
    if naive.any():
        line = int(naive.idxmax())
        raise ImportSourceError(
            f"{path}: `{name}` has no time zone in {int(naive.sum()):,} row(s), first on line "
            f"{line + 1} ({text[line]!r}); Segment's timestamps end in Z or an offset"
        )
    moments = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = moments.isna() & text.notna()
    if bad.any():
        line = int(bad.idxmax())
        raise ImportSourceError(
            f"{path}: `{name}` is not an ISO 8601 time on line {line + 1} ({text[line]!r})"
        )
    return moments.astype("datetime64[us, UTC]")


def read_calls(path: Path) -> pd.DataFrame:
    """One part's calls with the fields the contract needs, checked, in file order."""
    chunks = [chunk_calls(frame, path) for frame in read_chunks(path) if not frame.empty]
    return pd.concat(chunks) if chunks else pd.DataFrame(columns=CALL_COLUMNS)


def chunk_calls(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Calls of one chunk of a part (indexed by line) as the columns the contract needs."""
    require_fields(frame, ["type", "timestamp"], path)
    user, anonymous = id_text(field(frame, "userId")), id_text(field(frame, "anonymousId"))
    either = "userId or anonymousId"
    require_fields(pd.DataFrame({either: user.fillna(anonymous)}), [either], path)
    kind = _text(frame["type"]).str.lower().fillna("")
    event = _text(field(frame, "event"))
    require_fields(
        pd.DataFrame({"event": event})[kind == "track"], ["event"], path, "track call(s)"
    )
    properties, context = field(frame, "properties"), field(frame, "context")
    value = amount(nested(properties, MONEY_PROPERTIES[0]))
    for name in MONEY_PROPERTIES[1:]:
        value = value.fillna(amount(nested(properties, name)))
    session = nested(properties, "session_id")
    session = session.where(~session.map(missing), nested(context, "sessionId"))
    # page -> `page:Help`, screen -> `screen:Home`, unnamed ones just `page` / `screen`; the name
    # is the call's `name` (analytics.js also copies it to `properties.name`).
    name = _text(field(frame, "name")).fillna(_text(nested(properties, "name")))
    titled = (kind + ":" + name).fillna(kind)
    return pd.DataFrame(
        {
            "type": kind,
            "user_id": user,
            "anonymous_id": anonymous,
            "previous_id": id_text(field(frame, "previousId")),
            "message_id": id_text(field(frame, "messageId")),
            "ts": utc_timestamps(frame["timestamp"], path),
            "event": event.where(kind == "track", titled),
            "value": value,
            "session_id": id_text(session),
            "traits": field(frame, "traits").where(kind == "identify", None),
        }
    )


def identity_links(calls: pd.DataFrame) -> tuple[pd.Series, int]:
    """anonymous id -> user id, the earliest link winning; and how many ids had several."""
    both = calls.loc[calls["user_id"].notna() & calls["anonymous_id"].notna()]
    alias = calls.loc[
        (calls["type"] == "alias") & calls["previous_id"].notna() & calls["user_id"].notna()
    ]
    links = pd.concat(
        [
            both[["anonymous_id", "user_id", "ts"]],
            alias[["previous_id", "user_id", "ts"]].rename(columns={"previous_id": "anonymous_id"}),
        ],
        ignore_index=True,
    ).sort_values("ts", kind="stable")
    conflicts = int((links.groupby("anonymous_id")["user_id"].nunique() > 1).sum())
    first = links.drop_duplicates("anonymous_id", keep="first")
    return first.set_index("anonymous_id")["user_id"], conflicts


def resolve_customers(calls: pd.DataFrame, links: pd.Series) -> pd.Series:
    """Each call's customer: its user id, else its anonymous id's linked user id, else missing."""
    linked = calls["anonymous_id"].map(links).astype("string")
    return calls["user_id"].fillna(linked)


def calls_to_events(calls: pd.DataFrame) -> pd.DataFrame:
    """The resolved track / page / screen calls as contract events, sorted."""
    rows = calls.loc[calls["type"].isin(EVENT_TYPES) & calls["customer_id"].notna()]
    events = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str).to_numpy(),
            "ts": rows["ts"].to_numpy(),
            "event": rows["event"].astype(str).to_numpy(),
            "value": rows["value"].astype("float64").to_numpy(),
            "session_id": rows["session_id"].to_numpy(dtype=object, na_value=None),
        }
    )
    events["ts"] = events["ts"].astype("datetime64[us, UTC]")
    return events.sort_values(["customer_id", "ts", "event"], kind="stable", ignore_index=True)


def calls_to_customers(calls: pd.DataFrame, traits: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per user id: signup = the first call (event or identify); then each trait asked
    for, as of the user's latest identify call that set it."""
    rows = calls.loc[calls["type"].isin(PROFILE_TYPES) & calls["customer_id"].notna()]
    first = rows.groupby("customer_id", sort=True)["ts"].min()
    customers = pd.DataFrame(
        {"customer_id": first.index.astype(str), "signup_at": first.to_numpy()}
    ).astype({"signup_at": "datetime64[us, UTC]"})
    identified = rows.loc[rows["type"] == "identify"].sort_values("ts", kind="stable")
    for name in traits:
        values = nested(identified["traits"], name)
        kept = values[~values.map(missing)]
        if kept.empty:
            seen = sorted({k for t in identified["traits"] if isinstance(t, dict) for k in t})
            raise ImportSourceError(
                f"segment: no identify call sets trait {name!r}; traits seen: {seen[:20]}"
            )
        # A dict keeps each value's JSON type (a pandas map would make 3 and NaN floats).
        latest = dict(zip(identified.loc[kept.index, "customer_id"], kept, strict=True))
        customers[name] = attribute_column(
            pd.Series([latest.get(c) for c in customers["customer_id"]], dtype=object)
        )
    return customers


def _check_traits(traits: tuple[str, ...]) -> tuple[str, ...]:
    reserved = [name for name in traits if name in ("customer_id", "signup_at") or not name]
    if reserved:
        raise ImportSourceError(f"segment: --trait {reserved[0]!r} is not a usable column name")
    return tuple(dict.fromkeys(traits))


def import_segment(src: Path, out: Path, traits: tuple[str, ...] = ()) -> ImportSummary:
    """Convert a Segment export (a JSON-lines file, .gz or not, or a folder of parts)."""
    traits = _check_traits(tuple(traits))
    parts = source_parts(src, "segment")
    calls = pd.concat([read_calls(path) for path in parts], ignore_index=True)
    if calls.empty:
        raise ImportSourceError(f"segment: no calls in {src}")
    read = len(calls)
    # Segment retries deliveries with the same messageId: one call, counted once.
    repeated = calls["message_id"].notna() & calls["message_id"].duplicated()
    calls = calls.loc[~repeated].reset_index(drop=True)
    links, conflicts = identity_links(calls)
    calls["customer_id"] = resolve_customers(calls, links)
    events = calls_to_events(calls)
    customers = calls_to_customers(calls, traits)
    write_customers_and_events(out, customers, events)
    notes = _notes(calls, read, len(parts), int(repeated.sum()), links, conflicts, traits)
    log.info("segment: %s", "; ".join(notes))
    return ImportSummary("segment", Path(out), len(customers), len(events), notes=notes)


def _notes(
    calls: pd.DataFrame,
    read: int,
    files: int,
    repeated: int,
    links: pd.Series,
    conflicts: int,
    traits: tuple[str, ...],
) -> list[str]:
    counts = calls["type"].value_counts()
    kinds = ", ".join(f"{int(counts.get(k, 0)):,} {k}" for k in (*PROFILE_TYPES, "alias"))
    other = len(calls) - int(counts.reindex([*PROFILE_TYPES, "alias"]).fillna(0).sum())
    event_rows = calls["type"].isin(EVENT_TYPES)
    anonymous = event_rows & calls["user_id"].isna()
    dropped = anonymous & calls["customer_id"].isna()
    notes = [
        f"{read:,} calls in {files:,} file(s): {kinds}, {other:,} other (group, ...) ignored",
        f"{int((anonymous & ~dropped).sum()):,} anonymous events kept under the user id their "
        f"anonymous id was linked to ({len(links):,} anonymous ids linked)",
        f"{int(dropped.sum()):,} events of {calls.loc[dropped, 'anonymous_id'].nunique():,} "
        "never-identified anonymous ids dropped",
        "kept: "
        + (", ".join(traits) if traits else "no traits")
        + "; other traits and context (names, emails, IP, user agent) are not kept",
    ]
    if repeated:
        notes.insert(1, f"{repeated:,} repeated deliveries (same messageId) dropped")
    if conflicts:
        notes.append(f"{conflicts:,} anonymous ids linked to several user ids: kept with the first")
    return notes
