"""First-party importers: a Segment export and the GA4 BigQuery export, from small exports built
here in the shape of the public specs (Segment's track / page / screen / identify / alias calls;
GA4's `events_*` rows with `event_params` records), with made-up ids and no real personal data.

Expected values are written out by hand from the rows below, never taken from the importer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.importers import ImportSourceError, import_dataset
from pipelines.cli import app
from tests.fixtures.importer_exports import ga4_history, param, segment_history, write_lines

UTC_US = pa.timestamp("us", tz="UTC")
EVENTS_TYPES = {
    "customer_id": pa.string(),
    "ts": UTC_US,
    "event": pa.string(),
    "value": pa.float64(),
    "session_id": pa.string(),
}
PERSONAL = ["Ann Example", "ann@example.com", "Bob Sample", "bob@example.com", "+1 555 0100"]


def read(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = pd.read_parquet(out / "events.parquet")
    customers = pd.read_parquet(out / "customers.parquet")
    assert {f.name: f.type for f in pq.read_schema(out / "events.parquet")} == EVENTS_TYPES
    customer_types = {f.name: f.type for f in pq.read_schema(out / "customers.parquet")}
    assert customer_types["customer_id"] == pa.string() and customer_types["signup_at"] == UTC_US
    assert customers["customer_id"].is_unique
    first = events.groupby("customer_id")["ts"].min()
    signup = customers.set_index("customer_id")["signup_at"]
    assert set(first.index) <= set(signup.index)  # every event has its customer
    assert (signup.loc[first.index] <= first).all()
    return events, customers


def strings_in(out: Path) -> set[str]:
    """Every column name and text value written, to look for personal data."""
    found: set[str] = set()
    for name in ("events", "customers"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        found |= set(frame.columns)
        for column in frame.columns:
            found |= {str(v) for v in frame[column].dropna()}
    return found


# --- Segment -------------------------------------------------------------------------------------


def segment_calls() -> list[dict]:
    """Two people and a stranger. a-1 browses anonymously, signs up as u-1 (identify), then
    keeps sending anonymous-only calls (a second tab); u-2 arrives with a user id (numeric, as
    some sources send it); a-9 is never identified; a-5 is linked by an alias call."""
    return [
        {
            "type": "page",
            "anonymousId": "a-1",
            "name": "Pricing",
            "timestamp": "2026-03-01T10:00:00+02:00",
            "properties": {"session_id": 77, "path": "/pricing"},
            "context": {"ip": "192.0.2.1", "userAgent": "Mozilla/5.0"},
            "receivedAt": "2026-03-01T09:00:05Z",
            "sentAt": "2026-03-01T08:00:01Z",
            "messageId": "m-01",
        },
        {
            "type": "track",
            "anonymousId": "a-1",
            "event": "Signed Up",
            "timestamp": "2026-03-01T10:05:00+02:00",
            "context": {"sessionId": "web-9", "ip": "192.0.2.1"},
            "messageId": "m-02",
        },
        {
            "type": "identify",
            "anonymousId": "a-1",
            "userId": "u-1",
            "timestamp": "2026-03-01T08:06:00Z",
            "traits": {"name": "Ann Example", "email": "ann@example.com", "plan": "basic"},
            "messageId": "m-03",
        },
        {
            "type": "track",
            "anonymousId": "a-1",
            "userId": "u-1",
            "event": "Order Completed",
            "timestamp": "2026-03-02T09:00:00Z",
            "properties": {"revenue": "19.50", "value": 5, "total": 25},
            "messageId": "m-04",
        },
        {
            "type": "track",
            "anonymousId": "a-1",
            "event": "Order Completed",
            "timestamp": "2026-03-03T09:00:00.250Z",
            "properties": {"value": 7.25, "total": 9},
            "messageId": "m-05",
        },
        {
            "type": "identify",
            "userId": "u-1",
            "timestamp": "2026-03-04T09:00:00Z",
            "traits": {"plan": "pro", "phone": "+1 555 0100"},
            "messageId": "m-06",
        },
        {
            "type": "page",
            "anonymousId": "a-1",
            "timestamp": "2026-03-05T09:00:00Z",
            "properties": {"total": 12, "session_id": "tab-2"},
            "messageId": "m-07",
        },
        {
            "type": "screen",
            "userId": 1002,
            "name": "Home",
            "timestamp": "2026-03-02T12:00:00+0530",
            "messageId": "m-08",
        },
        {
            "type": "screen",
            "userId": 1002,
            "timestamp": "2026-03-02T07:00:00Z",
            "properties": {"revenue": "n/a", "total": 3},
            "messageId": "m-09",
        },
        {
            "type": "page",
            "userId": 1002,
            "name": "Help",
            "timestamp": "2026-03-06T09:00:00Z",
            "messageId": "m-10",
        },
        {  # the same call delivered twice
            "type": "page",
            "userId": 1002,
            "name": "Help",
            "timestamp": "2026-03-06T09:00:00Z",
            "messageId": "m-10",
        },
        {
            "type": "identify",
            "userId": 1002,
            "timestamp": "2026-03-06T10:00:00Z",
            "traits": {"name": "Bob Sample", "email": "bob@example.com", "seats": 3},
            "messageId": "m-11",
        },
        {
            "type": "track",
            "anonymousId": "a-9",
            "event": "Viewed Product",
            "timestamp": "2026-03-02T09:00:00Z",
            "messageId": "m-12",
        },
        {
            "type": "page",
            "anonymousId": "a-9",
            "name": "Help",
            "timestamp": "2026-03-03T09:00:00Z",
            "messageId": "m-13",
        },
        {
            "type": "track",
            "anonymousId": "a-5",
            "event": "Viewed Product",
            "timestamp": "2026-03-02T11:00:00Z",
            "messageId": "m-14",
        },
        {
            "type": "alias",
            "previousId": "a-5",
            "userId": "u-5",
            "timestamp": "2026-03-02T11:30:00Z",
            "messageId": "m-15",
        },
        {
            "type": "group",
            "userId": "u-1",
            "groupId": "g-1",
            "timestamp": "2026-03-02T11:30:00Z",
            "traits": {"name": "Example Inc"},
            "messageId": "m-16",
        },
    ]


@pytest.fixture(scope="module")
def segment(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("segment")
    src = write_lines(root / "export.jsonl", segment_calls())
    summary = import_dataset("segment", src, root / "out", traits=["plan", "seats"])
    return root / "out", summary


def test_segment_anonymous_calls_before_and_after_identify_are_the_users(segment) -> None:
    events, _ = read(segment[0])
    u1 = events.loc[events["customer_id"] == "u-1"]
    assert list(u1["event"]) == [
        "page:Pricing",  # anonymous, before the identify
        "Signed Up",  # anonymous, before
        "Order Completed",  # both ids
        "Order Completed",  # anonymous only, after the identify
        "page",  # anonymous only, unnamed, after
    ]
    alias = events.loc[events["customer_id"] == "u-5"]
    assert list(alias["event"]) == ["Viewed Product"]
    assert not events["customer_id"].isin(["a-1", "a-5", "a-9"]).any()


def test_segment_never_identified_events_are_dropped_and_counted(segment) -> None:
    events, customers = read(segment[0])
    assert sorted(customers["customer_id"]) == ["1002", "u-1", "u-5"]
    assert len(events) == 5 + 3 + 1  # u-1, 1002 (one Help page was a repeated delivery), u-5
    notes = "\n".join(segment[1].notes)
    assert "2 events of 1 never-identified anonymous ids dropped" in notes
    assert "1 repeated deliveries (same messageId) dropped" in notes
    assert "5 anonymous events kept under the user id" in notes  # 4 of a-1, 1 of a-5
    assert "1 other (group, ...) ignored" in notes


def test_segment_page_and_screen_names(segment) -> None:
    events, _ = read(segment[0])
    named = events.loc[events["customer_id"] == "1002"]
    # screen:Home at 12:00+05:30 is 06:30 UTC, before the unnamed screen at 07:00 UTC.
    assert list(named["event"]) == ["screen:Home", "screen", "page:Help"]


def test_segment_timestamps_with_offsets_become_utc(segment) -> None:
    events, customers = read(segment[0])
    u1 = events.loc[events["customer_id"] == "u-1", "ts"].tolist()
    assert u1[0] == pd.Timestamp("2026-03-01T08:00:00Z")  # 10:00+02:00
    assert u1[1] == pd.Timestamp("2026-03-01T08:05:00Z")
    assert u1[3] == pd.Timestamp("2026-03-03T09:00:00.250Z")
    screens = events.loc[events["customer_id"] == "1002", "ts"].tolist()
    assert screens[0] == pd.Timestamp("2026-03-02T06:30:00Z")  # 12:00+0530
    signup = customers.set_index("customer_id")["signup_at"]
    assert signup["u-1"] == pd.Timestamp("2026-03-01T08:00:00Z")  # first anonymous page
    assert signup["1002"] == pd.Timestamp("2026-03-02T06:30:00Z")
    assert signup["u-5"] == pd.Timestamp("2026-03-02T11:00:00Z")


def test_segment_value_is_revenue_else_value_else_total(segment) -> None:
    events, _ = read(segment[0])
    values = events.set_index(["customer_id", "ts"])["value"]
    assert values[("u-1", pd.Timestamp("2026-03-02T09:00:00Z"))] == 19.5  # revenue "19.50"
    assert values[("u-1", pd.Timestamp("2026-03-03T09:00:00.250Z"))] == 7.25  # value
    assert values[("u-1", pd.Timestamp("2026-03-05T09:00:00Z"))] == 12.0  # total
    assert values[("1002", pd.Timestamp("2026-03-02T07:00:00Z"))] == 3.0  # "n/a" is no number
    assert pd.isna(values[("u-1", pd.Timestamp("2026-03-01T08:00:00Z"))])  # no money property


def test_segment_session_ids(segment) -> None:
    events, _ = read(segment[0])
    sessions = events.loc[events["customer_id"] == "u-1", "session_id"].tolist()
    assert sessions[0] == "77"  # properties.session_id, an integer in the source
    assert sessions[1] == "web-9"  # context.sessionId
    assert pd.isna(sessions[2]) and pd.isna(sessions[3])  # none given: absent
    assert sessions[4] == "tab-2"


def test_segment_keeps_only_the_traits_asked_for(segment) -> None:
    _, customers = read(segment[0])
    assert list(customers.columns) == ["customer_id", "signup_at", "plan", "seats"]
    profile = customers.set_index("customer_id")
    assert profile.loc["u-1", "plan"] == "pro"  # the latest identify
    assert profile.loc["1002", "seats"] == 3 and pd.isna(profile.loc["1002", "plan"])
    assert pq.read_schema(segment[0] / "customers.parquet").field("seats").type == pa.int64()
    written = strings_in(segment[0])
    assert not [value for value in PERSONAL if value in written]
    assert not {"name", "email", "phone", "ip", "userAgent"} & written
    assert "names, emails" in segment[1].notes[-1]


def test_segment_copies_a_personal_trait_only_when_named(tmp_path) -> None:
    src = write_lines(tmp_path / "export.jsonl", segment_calls())
    import_dataset("segment", src, tmp_path / "out", traits=["email"])
    assert {"ann@example.com", "bob@example.com"} <= strings_in(tmp_path / "out")
    with pytest.raises(ImportSourceError, match="no identify call sets trait 'plann'"):
        import_dataset("segment", src, tmp_path / "typo", traits=["plann"])
    with pytest.raises(ImportSourceError, match="--trait applies to segment only"):
        import_dataset("ga4", src, tmp_path / "ga4", traits=["plan"])


def test_segment_anonymous_id_of_two_users_goes_to_the_earliest_link(tmp_path) -> None:
    """A shared browser: the identify written first in the file is the later one in time."""
    calls = [
        {
            "type": "track",
            "anonymousId": "shared",
            "event": "Viewed",
            "timestamp": "2026-03-01T08:00:00Z",
        },
        {
            "type": "identify",
            "anonymousId": "shared",
            "userId": "u-b",
            "timestamp": "2026-03-02T08:00:00Z",
        },
        {
            "type": "identify",
            "anonymousId": "shared",
            "userId": "u-a",
            "timestamp": "2026-03-01T09:00:00Z",
        },
        {
            "type": "page",
            "anonymousId": "shared",
            "properties": {"name": "Account"},
            "timestamp": "2026-03-03T08:00:00Z",
        },
    ]
    summary = import_dataset("segment", write_lines(tmp_path / "s.jsonl", calls), tmp_path / "out")
    events, customers = read(tmp_path / "out")
    assert events[["customer_id", "event"]].values.tolist() == [
        ["u-a", "Viewed"],
        ["u-a", "page:Account"],  # the page name from properties.name
    ]
    signup = customers.set_index("customer_id")["signup_at"]
    assert signup["u-b"] == pd.Timestamp("2026-03-02T08:00:00Z")  # known from its identify only
    assert "1 anonymous ids linked to several user ids: kept with the first" in summary.notes


def test_segment_gz_and_folder_of_parts_equal_one_file(segment, tmp_path) -> None:
    calls = segment_calls()
    # The identify linking a-1 is in a later part than a-1's first calls; parts nest by date.
    write_lines(tmp_path / "parts" / "2026-03-01" / "1772352000000.a1b2.gz", calls[:2])
    write_lines(tmp_path / "parts" / "2026-03-02" / "part-2.jsonl.gz", calls[2:9])
    write_lines(tmp_path / "parts" / "2026-03-03" / "part-3.json", calls[9:])
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    import_dataset("segment", tmp_path / "parts", tmp_path / "out", traits=["plan", "seats"])
    one_file = write_lines(tmp_path / "one.jsonl.gz", calls)
    import_dataset("segment", one_file, tmp_path / "gz", traits=["plan", "seats"])
    for out in (tmp_path / "out", tmp_path / "gz"):
        for table in ("events", "customers"):
            expected = pd.read_parquet(segment[0] / f"{table}.parquet")
            pd.testing.assert_frame_equal(pd.read_parquet(out / f"{table}.parquet"), expected)


def test_segment_chunked_reading_keeps_links_and_lines(segment, tmp_path, monkeypatch) -> None:
    """Parts are read a few rows at a time (25,000 by default): the same dataset, and an error
    still names its line in the file, not in the chunk."""
    monkeypatch.setattr("features.importers.parts.CHUNK_ROWS", 4)
    calls = segment_calls()
    src = write_lines(tmp_path / "export.jsonl.gz", calls)
    import_dataset("segment", src, tmp_path / "out", traits=["plan", "seats"])
    for table in ("events", "customers"):
        expected = pd.read_parquet(segment[0] / f"{table}.parquet")
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "out" / f"{table}.parquet"), expected
        )
    calls[9] = {**calls[9], "timestamp": None}
    bad = write_lines(tmp_path / "bad.jsonl", calls)
    with pytest.raises(
        ImportSourceError, match=r"`timestamp` missing in 1 row\(s\), first on line 10"
    ):
        import_dataset("segment", bad, tmp_path / "bad-out")


@pytest.mark.parametrize(
    ("line", "change", "message"),
    [
        (3, {"timestamp": None}, r"`timestamp` missing in 1 row\(s\), first on line 3"),
        (2, {"event": None}, r"`event` missing in 1 track call\(s\), first on line 2"),
        (
            5,
            {"anonymousId": None},
            r"`userId or anonymousId` missing in 1 row\(s\), first on line 5",
        ),
        (1, {"timestamp": "2026-03-01T10:00:00"}, r"`timestamp` has no time zone .* line 1"),
        (1, {"timestamp": "yesterday+01:00"}, r"`timestamp` is not an ISO 8601 time on line 1"),
    ],
)
def test_segment_bad_call_names_file_field_and_line(tmp_path, line, change, message) -> None:
    calls = segment_calls()
    calls[line - 1] = {**calls[line - 1], **change}
    src = write_lines(tmp_path / "bad-part.jsonl", calls)
    with pytest.raises(ImportSourceError, match=message) as caught:
        import_dataset("segment", src, tmp_path / "out")
    assert str(src) in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_segment_file_without_a_required_column(tmp_path) -> None:
    rows = [{k: v for k, v in call.items() if k != "type"} for call in segment_calls()]
    src = write_lines(tmp_path / "no-type.jsonl", rows)
    with pytest.raises(ImportSourceError, match=r"no-type.jsonl: required field `type` missing"):
        import_dataset("segment", src, tmp_path / "out")


# --- GA4 -----------------------------------------------------------------------------------------

T0 = 1772352000_000000  # 2026-03-01T08:00:00Z in microseconds


def ga4_rows(int_as_text: bool = True) -> list[dict]:
    """BigQuery's JSON export writes INT64 as strings (int_as_text); Parquet keeps integers.
    Device 111.222 browses signed out, then signs in as U1; device 333.444 is U1 on a phone;
    999.1 never signs in; one row has neither id; U2 shares a ga_session_id with U1."""

    def n(value: int) -> int | str:
        return str(value) if int_as_text else value

    def row(name, micros, user, pseudo, params=(), ecommerce=None, first_touch=None) -> dict:
        return {
            "event_date": "20260301",
            "event_timestamp": n(T0 + micros),
            "event_name": name,
            "event_params": list(params),
            "user_id": user,
            "user_pseudo_id": pseudo,
            "user_first_touch_timestamp": None if first_touch is None else n(first_touch),
            "device": {"category": "desktop", "operating_system": "Linux"},
            "geo": {"country": "Testland", "city": "Sample City"},
            "ecommerce": ecommerce,
        }

    session = param("ga_session_id", int_value=n(1772352000))
    return [
        row("first_visit", 0, None, "111.222", [session], first_touch=T0 - 3_600_000_000),
        row(
            "page_view",
            1_000_001,
            None,
            "111.222",
            [session, param("page_title", string_value="Help")],
        ),
        row("login", 60_000_000, "U1", "111.222", [session]),
        row(
            "purchase",
            120_000_000,
            "U1",
            "111.222",
            [session, param("value", double_value=30.0)],
            {"purchase_revenue": 29.99, "purchase_revenue_in_usd": 32.5, "transaction_id": "T-1"},
        ),
        row(
            "purchase",
            86_400_000_000,
            "U1",
            "333.444",
            [param("ga_session_id", int_value=n(1772438400)), param("value", float_value=12.0)],
        ),
        row(
            "page_view",
            86_500_000_000,
            None,
            "333.444",
            [param("ga_session_id", int_value=n(1772438400))],
        ),
        row("add_to_cart", 130_000_000, None, "999.1", [param("value", int_value=n(7))]),
        row("page_view", 140_000_000, None, None, []),
        row("page_view", 150_000_000, "U2", "555.1", [session], first_touch=T0 + 150_000_000),
    ]


@pytest.fixture(scope="module")
def ga4(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("ga4")
    src = write_lines(root / "events_20260301.jsonl", ga4_rows())
    return root / "out", import_dataset("ga4", src, root / "out")


def test_ga4_pseudo_ids_seen_with_a_user_id_are_that_user(ga4) -> None:
    events, customers = read(ga4[0])
    assert sorted(customers["customer_id"]) == ["999.1", "U1", "U2"]
    u1 = events.loc[events["customer_id"] == "U1", "event"].tolist()
    assert u1 == ["first_visit", "page_view", "login", "purchase", "purchase", "page_view"]
    assert len(events) == 8  # the row with neither id is dropped
    notes = "\n".join(ga4[1].notes)
    assert "1 rows with neither user_id nor user_pseudo_id dropped" in notes
    assert "1 customers known only by pseudo id" in notes
    assert "3 pseudo ids seen with a user id: their 3 signed-out rows" in notes
    written = strings_in(ga4[0])
    assert not {"Testland", "Sample City", "Help", "desktop", "T-1"} & written


def test_ga4_value_and_exact_utc_microseconds(ga4) -> None:
    events, customers = read(ga4[0])
    by_time = events.set_index("ts")
    at = lambda micros: pd.Timestamp(T0 + micros, unit="us", tz="UTC")  # noqa: E731
    assert by_time.loc[at(120_000_000), "value"] == 29.99  # ecommerce revenue, not the param
    assert by_time.loc[at(86_400_000_000), "value"] == 12.0  # no ecommerce: the value param
    assert by_time.loc[at(130_000_000), "value"] == 7.0  # int_value, as text in the JSON
    assert pd.isna(by_time.loc[at(0), "value"])
    assert at(1_000_001) == pd.Timestamp("2026-03-01T08:00:01.000001Z")
    assert at(1_000_001) in by_time.index
    signup = customers.set_index("customer_id")["signup_at"]
    assert signup["U1"] == pd.Timestamp("2026-03-01T07:00:00Z")  # first touch, an hour earlier
    assert signup["999.1"] == at(130_000_000)  # no first touch: the first event
    assert signup["U2"] == at(150_000_000)


def test_ga4_sessions_are_unique_per_customer(ga4) -> None:
    events, _ = read(ga4[0])
    sessions = events.groupby("customer_id")["session_id"].agg(lambda s: sorted(set(s.dropna())))
    assert sessions["U1"] == ["U1:1772352000", "U1:1772438400"]
    assert sessions["U2"] == ["U2:1772352000"]  # the same ga_session_id, another customer
    assert sessions["999.1"] == []


def ga4_parquet(path: Path, rows: list[dict]) -> Path:
    """The rows with BigQuery's export types: INT64, nested records, repeated event_params."""
    value = pa.struct(
        [
            ("string_value", pa.string()),
            ("int_value", pa.int64()),
            ("float_value", pa.float64()),
            ("double_value", pa.float64()),
        ]
    )
    schema = pa.schema(
        [
            ("event_date", pa.string()),
            ("event_timestamp", pa.int64()),
            ("event_name", pa.string()),
            ("event_params", pa.list_(pa.struct([("key", pa.string()), ("value", value)]))),
            ("user_id", pa.string()),
            ("user_pseudo_id", pa.string()),
            ("user_first_touch_timestamp", pa.int64()),
            ("device", pa.struct([("category", pa.string()), ("operating_system", pa.string())])),
            ("geo", pa.struct([("country", pa.string()), ("city", pa.string())])),
            (
                "ecommerce",
                pa.struct(
                    [
                        ("purchase_revenue", pa.float64()),
                        ("purchase_revenue_in_usd", pa.float64()),
                        ("transaction_id", pa.string()),
                    ]
                ),
            ),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_ga4_parquet_and_gz_parts_equal_one_json_file(ga4, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("features.importers.parts.CHUNK_ROWS", 3)  # several chunks per part
    numeric = ga4_rows(int_as_text=False)
    ga4_parquet(tmp_path / "pq" / "events_20260301.parquet", numeric[:4])
    ga4_parquet(tmp_path / "pq" / "events_20260302.parquet", numeric[4:])
    write_lines(tmp_path / "gz" / "events-000000000000.json.gz", ga4_rows()[:5])
    write_lines(tmp_path / "gz" / "events-000000000001.json.gz", numeric[5:])
    for name in ("pq", "gz"):
        import_dataset("ga4", tmp_path / name, tmp_path / f"{name}-out")
        for table in ("events", "customers"):
            expected = pd.read_parquet(ga4[0] / f"{table}.parquet")
            got = pd.read_parquet(tmp_path / f"{name}-out" / f"{table}.parquet")
            pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_timestamp": None}, r"`event_timestamp` missing in 1 row\(s\), first on line 3"),
        ({"event_name": None}, r"`event_name` missing in 1 row\(s\), first on line 3"),
        ({"event_timestamp": "soon"}, r"`event_timestamp` is not microseconds .* line 3"),
    ],
)
def test_ga4_bad_row_names_file_field_and_line(tmp_path, change, message) -> None:
    rows = ga4_rows()
    rows[2] = {**rows[2], **change}
    src = write_lines(tmp_path / "events_bad.jsonl", rows)
    with pytest.raises(ImportSourceError, match=message) as caught:
        import_dataset("ga4", src, tmp_path / "out")
    assert str(src) in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_ga4_parquet_without_event_timestamp_names_the_field(tmp_path) -> None:
    rows = ga4_rows(int_as_text=False)
    table = pa.Table.from_pylist(rows).drop_columns(["event_timestamp"])
    pq.write_table(table, tmp_path / "events_x.parquet")
    with pytest.raises(
        ImportSourceError, match=r"events_x.parquet: required field `event_timestamp`"
    ):
        import_dataset("ga4", tmp_path / "events_x.parquet", tmp_path / "out")


# --- End to end: churn data import -> churn init -> churn validate ------------------------------
# (and churn train on the same exports: tests/e2e/test_importers_train.py)


@pytest.mark.parametrize(("kind", "history"), [("segment", segment_history), ("ga4", ga4_history)])
def test_cli_import_then_init_then_validate(tmp_path, kind, history) -> None:
    src = write_lines(tmp_path / "export" / "part-0.jsonl.gz", history())
    runner = CliRunner()
    extra = ["--trait", "plan"] if kind == "segment" else []
    data = tmp_path / "data"
    imported = runner.invoke(
        app, ["data", "import", kind, str(src.parent), "--out", str(data), *extra]
    )
    assert imported.exit_code == 0, imported.output
    assert "customers" in imported.output
    config = tmp_path / "cfg.yaml"
    init = runner.invoke(app, ["init", "--data", str(data), "--out", str(config)])
    assert init.exit_code == 0, init.output
    assert "validation passed" in init.output
    valid = runner.invoke(app, ["validate", "--data", str(data), "--config", str(config)])
    assert valid.exit_code == 0, valid.output


def test_cli_help_warns_about_personal_traits_and_rejects_traits_for_ga4(tmp_path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["data", "import", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "segment" in shown.output and "ga4" in shown.output
    assert "personal data" in shown.output
    src = write_lines(tmp_path / "events.jsonl", ga4_rows())
    refused = runner.invoke(
        app, ["data", "import", "ga4", str(src), "--out", str(tmp_path / "o"), "--trait", "plan"]
    )
    assert refused.exit_code == 2, refused.output  # a usage error
    assert "--trait" in refused.output
    assert not (tmp_path / "o").exists()


def test_ga4_page_paths_name_page_views_by_path_only_when_asked(tmp_path) -> None:
    def view(location: str | None, micros: int) -> dict:
        params = [param("ga_session_id", int_value="1772352000")]
        if location is not None:
            params.append(param("page_location", string_value=location))
        return {"event_name": "page_view", "event_timestamp": str(T0 + micros),
                "user_id": "U9", "user_pseudo_id": "9.9", "event_params": params}  # fmt: skip

    rows = [
        view("https://shop.example.com/help/?email=someone%40example.com#top", 0),
        view("https://shop.example.com/account/cancel", 1_000_000),
        view(None, 2_000_000),
    ]
    src = write_lines(tmp_path / "ga4.jsonl", rows)
    import_dataset("ga4", src, tmp_path / "paths", page_paths=True)
    events = pd.read_parquet(tmp_path / "paths" / "events.parquet")
    assert list(events["event"]) == ["page_view:/help", "page_view:/account/cancel", "page_view"]
    written = b"".join(p.read_bytes() for p in (tmp_path / "paths").rglob("*.parquet"))
    assert b"someone" not in written and b"example.com" not in written
    import_dataset("ga4", src, tmp_path / "plain")
    assert set(pd.read_parquet(tmp_path / "plain" / "events.parquet")["event"]) == {"page_view"}
    with pytest.raises(ImportSourceError, match="--page-paths applies to ga4 only"):
        import_dataset("segment", src, tmp_path / "seg", page_paths=True)
