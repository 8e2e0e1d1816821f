"""Value rules of validation: payments not negative, email opens not above the sends, numbers
that parse (a CSV's `value`, numeric profile columns), and what cleaning dropped, counted."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import Config
from features.dataset import open_dataset
from features.errors import EXIT_BAD_DATA, DataContractError
from features.validation import ValidationReport, validate_dataset
from pipelines.cli import app
from tests.fixtures.configs import partial_data_config
from tests.fixtures.datasets import write_dataset

NOW = pd.Timestamp("2025-01-01", tz="UTC")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def customers(ids=("c1", "c2", "c3", "c4"), **columns) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": list(ids), "signup_at": [utc("2024-01-01")] * len(ids)})
    return frame.assign(plan="basic", country="DE", **columns)


def events(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, ts, event, value)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "event", "value"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


CLEAN = [
    ("c1", "2024-02-01", "login", 1.0),
    ("c2", "2024-02-01", "email_sent", None),
    ("c2", "2024-02-02", "email_open", None),
    ("c3", "2024-02-05", "payment", 19.9),
    ("c4", "2024-03-02", "subscription_cancelled", None),
]


@pytest.fixture(scope="module")
def cfg() -> Config:
    return partial_data_config()


def with_validation(cfg: Config, **settings) -> Config:
    return cfg.model_copy(update={"validation": cfg.validation.model_copy(update=settings)})


def validate(folder: Path, cfg: Config) -> ValidationReport:
    return validate_dataset(open_dataset(folder), cfg, now=NOW)


def problems_of(folder: Path, cfg: Config) -> list[str]:
    with pytest.raises(DataContractError) as caught:
        validate(folder, cfg)
    return caught.value.problems


def only(problems: list[str], prefix: str) -> str:
    hits = [p for p in problems if p.startswith(prefix)]
    assert len(hits) == 1, problems
    return hits[0]


def test_a_negative_payment_is_refused_naming_events_value(tmp_path, cfg):
    rows = [
        *CLEAN,
        ("c3", "2024-03-05", "payment", -19.9),
        ("c1", "2024-03-05", "login", -1.0),  # not a payment: its value is not an amount
    ]
    folder = write_dataset(tmp_path, customers(), events(rows))
    problem = only(problems_of(folder, cfg), "events.value")
    assert "1 of 7 rows are payments (payment) with a negative amount" in problem
    assert "example: -19.9 for customer_id 'c3'" in problem
    assert "validation.allow_negative_amounts" in problem
    # Configured: refunds booked as negative payments are accepted.
    report = validate(folder, with_validation(cfg, allow_negative_amounts=True))
    assert report.events == 7


def test_opens_above_the_sends_are_refused_naming_the_column(tmp_path, cfg):
    opens = [("c2", f"2024-05-0{day}", "email_open", None) for day in range(2, 8)]
    rows = [*CLEAN, ("c2", "2024-05-01", "email_sent", None), *opens]
    folder = write_dataset(tmp_path, customers(), events(rows))
    problem = only(problems_of(folder, cfg), "events.event")
    assert problem.startswith("events.event: 1 of 1 customers with email opens (email_open)")
    assert "validation.max_opens_per_send (1) per send (email_sent)" in problem
    assert "customer_id 'c2'" in problem and "6 opens, 1 send " in problem
    # A tolerance for services that count every open of a mail passes them.
    assert validate(folder, with_validation(cfg, max_opens_per_send=6)).events == len(rows)
    assert problems_of(folder, with_validation(cfg, max_opens_per_send=5))


def test_opens_of_the_window_before_and_opens_without_a_send_are_not_double_counted(tmp_path, cfg):
    edge = utc("1970-01-01") + pd.Timedelta(days=30 * 661)  # a window starts (2024-04-17)
    hour = pd.Timedelta(hours=1)
    rows = [
        *CLEAN,
        # A send opened after the 30-day window turned: covered by the window before.
        ("c1", (edge - hour).isoformat(), "email_sent", None),
        ("c1", (edge + hour).isoformat(), "email_open", None),
        ("c1", (edge + 2 * hour).isoformat(), "email_open", None),  # one open per send allowed
    ]
    folder = write_dataset(tmp_path, customers(), events(rows))
    problem = only(problems_of(folder, cfg), "events.event")
    assert "2 opens, 1 send in them" in problem
    assert validate(folder, with_validation(cfg, max_opens_per_send=2)).events == len(rows)
    # An open with no earlier send is the orphan rule's problem only.
    orphan = [*CLEAN, ("c3", "2024-02-01", "email_open", None)]
    problems = problems_of(write_dataset(tmp_path / "orphan", customers(), events(orphan)), cfg)
    assert "without an earlier send" in only(problems, "events.event")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_csv_amount_with_a_decimal_comma_is_one_line_naming_column_count_example(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    write_csv(
        folder / "customers.csv",
        ["customer_id", "signup_at", "plan", "country"],
        [[str(i), "2024-01-01T00:00:00Z", "basic", "DE"] for i in range(100)],
    )
    # Far more rows than DuckDB's type sniffer samples, the bad amounts at the end.
    good = [[str(i % 100), f"2024-02-01T{i % 24:02d}:00:{i % 60:02d}Z", "payment", "9.99"]
            for i in range(25_000)]  # fmt: skip
    bad = [["7", "2024-03-01T00:00:00Z", "payment", "9,99"], ["8", "2024-03-02T00:00:00Z",
           "payment", "1.299,00"]]  # fmt: skip
    write_csv(folder / "events.csv", ["customer_id", "ts", "event", "value"], good + bad)
    result = CliRunner().invoke(app, ["validate", "--data", str(folder)])
    assert result.exit_code == EXIT_BAD_DATA == 3, result.output
    assert "Traceback" not in result.output and "Exception" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors == lines[-1:], result.output
    assert "events.value: 2 of 25,002 rows are not numbers (example: '1.299,00')" in errors[0]
    assert "'.' decimal point" in errors[0]


def test_csv_numbers_that_parse_become_float64(tmp_path, cfg):
    folder = tmp_path / "csv"
    folder.mkdir()
    frame = customers(plan_price=[9.5, 12.0, None, 20.0])
    frame.to_csv(folder / "customers.csv", index=False)
    events([*CLEAN, ("c3", "2024-03-05", "payment", None)]).to_csv(
        folder / "events.csv", index=False
    )
    report = validate(folder, cfg)
    assert report.parsed_numbers == {"events": ("value",), "customers": ("plan_price",)}
    cleaned = report.dataset
    assert cleaned.events.value.type().is_floating()
    assert cleaned.customers.plan_price.type().is_floating()
    values = cleaned.events.value.execute()
    assert values.notna().sum() == 2 and values.sum() == pytest.approx(20.9)
    assert cleaned.customers.plan_price.execute().tolist()[:2] == [9.5, 12.0]


def test_numeric_profile_columns_that_do_not_parse_are_named(tmp_path, cfg):
    cfg = cfg.model_copy(
        update={"features": cfg.features.model_copy(update={"profile_columns": ["plan", "seats"]})}
    )
    frame = customers(seats=["3", "n/a", "", "5"], plan_price=["9.5", "12,5", "12,5", None])
    folder = write_dataset(tmp_path, frame, events(CLEAN))  # Parquet, numbers stored as text
    problems = problems_of(folder, cfg)
    seats = only(problems, "customers.seats")
    assert "1 of 4 rows are not numbers (example: 'n/a')" in seats  # blank is missing, not bad
    assert "features.categorical_columns" in seats
    assert "2 of 4 rows are not numbers (example: '12,5')" in only(problems, "customers.plan_price")
    # A categorical profile column may hold any text.
    plan_only = cfg.model_copy(
        update={"features": cfg.features.model_copy(update={"profile_columns": ["plan"]})}
    )
    fine = write_dataset(tmp_path / "fine", customers(plan_price=["9.5", None, " 7 ", "1e2"]),
                         events(CLEAN))  # fmt: skip
    prices = validate(fine, plan_only).dataset.customers.plan_price.execute().tolist()
    assert prices[0] == 9.5 and pd.isna(prices[1]) and prices[2:] == [7.0, 100.0]


def test_the_quality_counts_name_what_cleaning_dropped(tmp_path, cfg):
    rows = [*CLEAN, CLEAN[0], CLEAN[0], CLEAN[3]]  # three exact duplicates
    report = validate(write_dataset(tmp_path, customers(), events(rows)), cfg)
    assert report.quality() == {
        "events": 8,
        "events_kept": 5,
        "duplicate_events_dropped": 3,
        "unknown_customer_events_dropped": 0,
        "unknown_customer_share": 0.0,
        "events_before_signup": 0,
    }


def test_opens_at_six_times_the_sends_in_the_synthetic_world_are_refused(tmp_path, cfg):
    from features.synth import write_world

    write_world(tmp_path / "world", customers=300, seed=5)
    validate_dataset(open_dataset(tmp_path / "world"), cfg)  # clean as generated
    world = open_dataset(tmp_path / "world")
    frame = world.events.execute()
    opens = frame[frame["event"] == "email_open"]
    # Each open delivered six times, a second apart: not exact duplicates, so they survive.
    copies = [opens.assign(ts=opens["ts"] + pd.Timedelta(seconds=k)) for k in range(1, 6)]
    broken = pd.concat([frame, *copies], ignore_index=True)
    folder = write_dataset(tmp_path / "six", world.customers.execute(), broken)
    problem = only(problems_of(folder, cfg), "events.event")
    openers = opens["customer_id"].nunique()
    assert f"of {openers:,} customers with email opens" in problem
    flagged = int(problem.split(":")[1].split(" of ")[0].replace(",", ""))
    assert flagged > 0.5 * openers
