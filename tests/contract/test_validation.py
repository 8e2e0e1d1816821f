"""Data contract validation: one test per kind of bad input, the report, loaders and the CLI."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.config import Churn, Config
from features.dataset import open_dataset
from features.errors import EXIT_BAD_DATA, DataContractError
from features.validation import ValidationReport, validate_dataset
from pipelines.cli import app
from tests.fixtures.configs import partial_data_config
from tests.fixtures.datasets import write_dataset

NOW = pd.Timestamp("2025-01-01", tz="UTC")
NAMES = ["Ann Example", "Bob Sample", "Cy Placeholder", "Di Fixture"]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def customers(ids: list[str | None] | None = None) -> pd.DataFrame:
    """Four customers with a name column, which must never appear in any message."""
    ids = ids if ids is not None else ["c1", "c2", "c3", "c4"]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": [utc("2024-01-01")] * len(ids),
            "name": (NAMES * 3)[: len(ids)],
            "plan": ["basic"] * len(ids),
        }
    )


def events(rows: list[tuple] | None = None) -> pd.DataFrame:
    """Rows of (customer_id, ts, event); the default is a clean eight-event log."""
    rows = rows or [
        ("c1", "2024-02-01", "login"),
        ("c1", "2024-02-02", "faq_view"),
        ("c1", "2024-02-03", "cancel_page_view"),
        ("c2", "2024-02-01", "email_sent"),
        ("c2", "2024-02-02", "email_open"),
        ("c3", "2024-02-05", "payment"),
        ("c3", "2024-03-01", "support_call"),
        ("c4", "2024-03-02", "subscription_cancelled"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "event"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["value"] = 1.0
    return frame


@pytest.fixture(scope="module")
def cfg() -> Config:
    return partial_data_config()


def with_churn_source(cfg: Config, source: str) -> Config:
    return cfg.model_copy(update={"churn": Churn(source=source, events=cfg.churn.events)})


def with_unknown_share(cfg: Config, share: float) -> Config:
    validation = cfg.validation.model_copy(update={"max_unknown_customer_share": share})
    return cfg.model_copy(update={"validation": validation})


def validate_folder(folder: Path, cfg: Config) -> ValidationReport:
    return validate_dataset(open_dataset(folder), cfg, now=NOW)


def problems_of(folder: Path, cfg: Config) -> list[str]:
    """The problems a dataset raises; fails the test if it validates."""
    with pytest.raises(DataContractError) as caught:
        validate_folder(folder, cfg)
    message = str(caught.value)
    assert not any(name in message for name in NAMES), "a customer name leaked into the error"
    return caught.value.problems


def only(problems: list[str], prefix: str) -> str:
    """The single problem starting with `table.column`."""
    hits = [p for p in problems if p.startswith(prefix)]
    assert len(hits) == 1, problems
    return hits[0]


def test_clean_dataset_reports_counts(tmp_path, cfg):
    report = validate_folder(write_dataset(tmp_path, customers(), events()), cfg)
    assert report.customers == 4
    assert report.events == 8
    assert report.events_by_type["login"] == 1
    assert sum(report.events_by_type.values()) == 8
    assert report.first_event == utc("2024-02-01")
    assert report.last_event == utc("2024-03-02")
    assert report.unknown_customer_share == 0
    assert report.duplicate_events_dropped == 0
    assert report.dataset.events.count().execute() == 8
    assert report.summary_table().row_count >= 8


def test_missing_column(tmp_path, cfg):
    folder = write_dataset(tmp_path, customers(), events().drop(columns="event"))
    problem = only(problems_of(folder, cfg), "events.event")
    assert "required column missing" in problem
    assert "all 8 rows" in problem
    assert "add event" in problem
    assert "data.events.columns: {event: <your column>}" in problem


def test_timestamp_stored_as_string(tmp_path, cfg):
    bad = events().assign(ts=lambda f: f["ts"].dt.strftime("%Y-%m-%d"))
    problem = only(problems_of(write_dataset(tmp_path, customers(), bad), cfg), "events.ts")
    assert "8 of 8 rows are stored as string" in problem
    assert "example: '2024-02-01'" in problem
    assert "store it as UTC" in problem


def test_naive_timestamp(tmp_path, cfg):
    bad = events().assign(ts=lambda f: f["ts"].dt.tz_localize(None))
    problem = only(problems_of(write_dataset(tmp_path, customers(), bad), cfg), "events.ts")
    assert "8 of 8 rows hold timestamps without a time zone" in problem
    assert "convert ts to UTC" in problem


def test_mistyped_customer_id(tmp_path, cfg):
    bad = customers().assign(customer_id=[1, 2, 3, 4])
    problem = only(
        problems_of(write_dataset(tmp_path, bad, events()), cfg), "customers.customer_id"
    )
    assert "4 of 4 rows are stored as int64" in problem
    assert "store customer_id as text" in problem


def test_duplicate_customer_ids(tmp_path, cfg):
    folder = write_dataset(
        tmp_path, customers(["c1", "c2", "c2", "c4"]), events()[lambda f: f.customer_id != "c3"]
    )
    problem = only(problems_of(folder, cfg), "customers.customer_id")
    assert "1 of 4 rows repeat an id" in problem
    assert "example: 'c2'" in problem
    assert "keep one row per customer" in problem


def test_null_customer_id_in_customers(tmp_path, cfg):
    folder = write_dataset(tmp_path, customers(["c1", "c2", "c3", "c4", None]), events())
    problem = only(problems_of(folder, cfg), "customers.customer_id")
    assert "1 of 5 rows have no customer_id" in problem
    assert "give every customer an id" in problem


def test_null_keys_in_events(tmp_path, cfg):
    rows = [
        ("c1", "2024-02-01", "login"),
        (None, "2024-02-02", "login"),
        ("c2", "2024-02-03", None),
    ]
    problems = problems_of(write_dataset(tmp_path, customers(), events(rows)), cfg)
    null_id = only(problems, "events.customer_id")
    assert "1 of 3 rows have a null customer_id (example: a row with event 'login')" in null_id
    assert "fill customer_id" in null_id
    assert "1 of 3 rows have a null event (example: a row with customer_id 'c2')" in only(
        problems, "events.event"
    )


def test_future_timestamps(tmp_path, cfg):
    rows = [
        ("c1", "2024-02-01", "login"),
        ("c1", "2025-03-01", "login"),
        ("c2", "2026-01-01", "login"),
    ]
    problem = only(
        problems_of(write_dataset(tmp_path, customers(), events(rows)), cfg), "events.ts"
    )
    assert "2 of 3 rows are in the future of 2025-01-01" in problem
    assert "example: 2026-01-01" in problem
    assert "time zone" in problem


def test_unknown_customers_above_share_is_an_error(tmp_path, cfg):
    rows = [
        ("c1", "2024-02-01", "login"),
        ("x9", "2024-02-02", "login"),
        ("x9", "2024-02-03", "login"),
    ]
    folder = write_dataset(tmp_path, customers(), events(rows))
    problem = only(problems_of(folder, with_unknown_share(cfg, 0.5)), "events.customer_id")
    assert "2 of 3 rows belong to customers missing from the customers table" in problem
    assert "example: 'x9'" in problem
    assert "export the missing customers" in problem


def test_unknown_customers_below_share_are_dropped_and_counted(tmp_path, cfg):
    rows = [("c1", f"2024-02-0{day}", "login") for day in range(1, 8)] + [
        ("x9", "2024-02-09", "login")
    ]
    folder = write_dataset(tmp_path, customers(), events(rows))
    report = validate_folder(folder, with_unknown_share(cfg, 0.2))
    assert report.unknown_customer_events_dropped == 1
    assert report.unknown_customer_share == pytest.approx(1 / 8)
    kept = report.dataset.events.execute()
    assert len(kept) == 7
    assert set(kept["customer_id"]) == {"c1"}
    assert report.events_kept == 7


def test_exact_duplicate_events_are_dropped_and_counted(tmp_path, cfg):
    clean = events()
    doubled = pd.concat([clean, clean.iloc[:2], clean.iloc[:1]], ignore_index=True)
    report = validate_folder(write_dataset(tmp_path, customers(), doubled), cfg)
    assert report.events == 11
    assert report.duplicate_events_dropped == 3
    assert report.dataset.events.count().execute() == 8
    # Same customer and time but another value is not an exact duplicate: kept.
    near = pd.concat([clean, clean.iloc[:1].assign(value=2.0)], ignore_index=True)
    report = validate_folder(write_dataset(tmp_path / "near", customers(), near), cfg)
    assert report.duplicate_events_dropped == 0


def test_empty_customers_table(tmp_path, cfg):
    folder = write_dataset(tmp_path, customers().iloc[:0], events())
    problems = problems_of(folder, cfg)
    assert any(p.startswith("customers: the table is empty (0 rows)") for p in problems)


def test_empty_events_table(tmp_path, cfg):
    folder = write_dataset(tmp_path, customers(), events().iloc[:0])
    problems = problems_of(folder, cfg)
    assert any(p.startswith("events: the table is empty (0 rows)") for p in problems)
    assert any("churn.source" in p for p in problems)


def test_empty_events_allowed_with_given_labels(tmp_path, cfg):
    labels = pd.DataFrame(
        {"customer_id": ["c1", "c2"], "as_of": [utc("2024-06-01")] * 2, "churned": [True, False]}
    )
    folder = write_dataset(tmp_path, customers(), events().iloc[:0], labels)
    report = validate_folder(folder, with_churn_source(cfg, "labels"))
    assert report.events == 0
    assert report.labels == 2


def test_email_open_without_earlier_send(tmp_path, cfg):
    rows = [
        ("c1", "2024-02-01", "email_open"),  # no send at all
        ("c2", "2024-02-01", "email_open"),  # opened before the first send
        ("c2", "2024-02-02", "email_sent"),
        ("c3", "2024-02-01", "email_sent"),  # fine: sent, then opened
        ("c3", "2024-02-02", "email_open"),
    ]
    problem = only(
        problems_of(write_dataset(tmp_path, customers(), events(rows)), cfg), "events.event"
    )
    assert "2 of 5 rows are email opens (email_open) without an earlier send" in problem
    assert "example: customer_id 'c1'" in problem
    assert "signals.email_sent" in problem


def test_labels_with_null_keys_and_non_boolean_churned(tmp_path, cfg):
    labels = pd.DataFrame(
        {
            "customer_id": ["c1", None, "c3"],
            "as_of": [utc("2024-06-01")] * 3,
            "churned": ["yes", "no", "no"],
        }
    )
    problems = problems_of(write_dataset(tmp_path, customers(), events(), labels), cfg)
    assert "1 of 3 rows have a null customer_id" in only(problems, "labels.customer_id")
    churned = only(problems, "labels.churned")
    assert "3 of 3 rows are stored as string instead of boolean" in churned
    assert "store churned as a boolean" in churned


def test_events_before_signup_are_a_warning_not_an_error(tmp_path, cfg):
    rows = [("c1", "2023-12-01", "login"), ("c1", "2024-02-01", "login")]
    report = validate_folder(write_dataset(tmp_path, customers(), events(rows)), cfg)
    assert report.events_before_signup == 1
    assert any("before their customer's signup_at" in w for w in report.warnings)
    assert report.dataset.events.count().execute() == 2


def test_several_problems_reported_together(tmp_path, cfg):
    rows = [
        ("c1", "2024-02-01", "email_open"),
        ("x9", "2024-02-01", "login"),
        ("c2", "2026-02-01", "login"),
    ]
    folder = write_dataset(tmp_path, customers(["c1", "c1", "c2"]), events(rows))
    with pytest.raises(DataContractError) as caught:
        validate_folder(folder, cfg)
    problems = caught.value.problems
    assert len(problems) == 4
    assert str(caught.value).startswith("4 data problems: ")
    prefixes = sorted(p.split(":")[0] for p in problems)
    assert prefixes == ["customers.customer_id", "events.customer_id", "events.event", "events.ts"]


def test_validation_writes_nothing(tmp_path, cfg):
    folder = write_dataset(tmp_path, customers(["c1", "c1"]), events())
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    with pytest.raises(DataContractError):
        validate_folder(folder, cfg)
    validate_folder(write_dataset(tmp_path / "ok", customers(), events()), cfg)
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if "ok" not in p.parts}
    assert after == before


def test_csv_folder_loads_with_text_ids(tmp_path, cfg):
    folder = tmp_path / "csv"
    folder.mkdir()
    customers(["1", "2", "3", "4"]).drop(columns="name").to_csv(
        folder / "customers.csv", index=False
    )
    rows = [
        ("1", "2024-02-01", "login"),
        ("2", "2024-02-01", "email_sent"),
        ("2", "2024-02-02", "email_open"),
    ]
    events(rows).to_csv(folder / "events.csv", index=False)
    report = validate_folder(folder, cfg)
    assert report.customers == 4
    assert report.events == 3
    assert report.dataset.events.customer_id.type().is_string()


def test_parquet_parts_folder_and_nanosecond_timestamps(tmp_path, cfg):
    folder = tmp_path / "parts"
    (folder / "events").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pandas(customers(), preserve_index=False), folder / "customers.parquet"
    )
    frame = events()
    for part, chunk in enumerate([frame.iloc[:4], frame.iloc[4:]]):
        table = pa.Table.from_pandas(
            chunk.astype({"ts": "datetime64[ns, UTC]"}), preserve_index=False
        )
        assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
        pq.write_table(table, folder / "events" / f"part-{part}.parquet")
    report = validate_folder(folder, cfg)
    assert report.events == 8
    assert report.last_event == utc("2024-03-02")


def test_duckdb_file_loads(tmp_path, cfg):
    path = tmp_path / "world.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("customers_frame", customers())
        con.register("events_frame", events())
        con.execute("CREATE TABLE customers AS SELECT * FROM customers_frame")
        con.execute("CREATE TABLE events AS SELECT * FROM events_frame")
    report = validate_folder(path, cfg)
    assert (report.customers, report.events) == (4, 8)
    assert report.events_by_type["email_open"] == 1


def test_cli_validate_exit_codes(tmp_path):
    runner = CliRunner()
    good = write_dataset(tmp_path / "good", customers(), events())
    result = runner.invoke(app, ["validate", "--data", str(good)])
    assert result.exit_code == 0, result.output
    assert "customers" in result.output
    assert "duplicates dropped" in result.output

    bad = write_dataset(
        tmp_path / "bad",
        customers(["c1", "c1", "c2"]),
        events()[lambda f: f.customer_id.isin(["c1", "c2"])],
    )
    result = runner.invoke(app, ["validate", "--data", str(bad)])
    assert result.exit_code == EXIT_BAD_DATA == 3
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "customers.customer_id" in error_lines[0]
    assert not any(name in result.output for name in NAMES)


def test_synthetic_world_validates_cleanly(tmp_path, cfg):
    from features.synth import write_world

    write_world(tmp_path / "world", customers=2000, seed=3)
    report = validate_dataset(open_dataset(tmp_path / "world"), cfg)
    assert report.customers == 2000
    assert report.events > 2000 * 10
    assert report.duplicate_events_dropped == 0
    assert report.unknown_customer_share == 0
    assert report.warnings == ()
    for name in ("login", "faq_view", "cancel_page_view", "email_sent", "email_open", "payment"):
        assert report.events_by_type.get(name, 0) > 0, name
