"""A user's export as it comes: other column names, local timestamps without a zone, CSV, gzip,
JSON lines, folders of parts, and a labels-only snapshot (the config's `data` section)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest

from features.config import load_config
from features.errors import DataContractError
from features.matrix import build_matrix
from features.synth import write_world
from pipelines import catalog

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")
EXPORT_NAMES = {"customer_id": "user_id", "ts": "timestamp", "event": "event_name"}
ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sources") / "world"
    write_world(folder, customers=200, seed=9, truth=False)
    return folder


def world_frames(world: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = pd.read_parquet(world / "customers.parquet")
    events = pads.dataset(world / "events").to_table().to_pandas()
    return customers, events


def export_frames(world: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The world as a CRM/tracker would export it: its own column names, local wall-clock times
    in Berlin without a zone."""
    customers, events = world_frames(world)
    local = events["ts"].dt.tz_convert(ZONE).dt.tz_localize(None)
    events = events.assign(ts=local).rename(columns=EXPORT_NAMES)
    customers = customers.assign(
        signup_at=customers["signup_at"].dt.tz_convert(ZONE).dt.tz_localize(None)
    ).rename(columns={"customer_id": "user_id"})
    return customers, events


def mapped_config(**data):
    raw = load_config().model_dump()
    raw["data"] = {
        "timezone": ZONE,
        "customers": {"columns": {"customer_id": "user_id"}},
        "events": {"columns": EXPORT_NAMES},
        **data,
    }
    from features.config import Config

    return Config.model_validate(raw)


def write_csv(frame: pd.DataFrame, path: Path, compressed: bool = False) -> None:
    text = frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
    if compressed:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def write_jsonl(frame: pd.DataFrame, path: Path, compressed: bool = False) -> None:
    text = frame.to_json(orient="records", lines=True, date_format="iso", date_unit="us")
    text = text.replace('Z"', '"')  # local wall-clock times, no zone
    if compressed:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def write_export(world: Path, folder: Path, kind: str) -> Path:
    folder.mkdir()
    customers, events = export_frames(world)
    write_csv(customers, folder / "customers.csv")
    if kind == "csv":
        write_csv(events, folder / "events.csv")
    elif kind == "csv.gz":
        write_csv(events, folder / "events.csv.gz", compressed=True)
    elif kind == "jsonl":
        write_jsonl(events, folder / "events.jsonl")
    elif kind == "jsonl.gz":
        write_jsonl(events, folder / "events.jsonl.gz", compressed=True)
    elif kind == "parquet":
        events.to_parquet(folder / "events.parquet")
    elif kind == "csv parts":
        (folder / "events").mkdir()
        for number, part in enumerate(
            [events.iloc[: len(events) // 2], events.iloc[len(events) // 2 :]]
        ):
            write_csv(part, folder / "events" / f"part-{number}.csv")
    return folder


@pytest.fixture(scope="module")
def reference(world) -> pd.DataFrame:
    cfg = load_config()
    with catalog.dataset(world, cfg) as dataset:
        return build_matrix(dataset, cfg, [AS_OF])


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "jsonl", "jsonl.gz", "csv parts", "parquet"])
def test_an_export_maps_onto_the_contract_and_builds_the_same_features(
    world, reference, tmp_path, kind
) -> None:
    folder = write_export(world, tmp_path / "export", kind)
    cfg = mapped_config()
    with catalog.dataset(folder, cfg) as dataset:
        events = dataset.events.to_pandas()
        matrix = build_matrix(dataset, cfg, [AS_OF])
    _, original = world_frames(world)
    # Local Berlin times became the same UTC instants (both sides of the DST change).
    assert str(events["ts"].dt.tz) == "UTC"
    assert sorted(events["ts"]) == sorted(original["ts"].dt.floor("us"))
    pd.testing.assert_frame_equal(
        matrix.reset_index(drop=True), reference.reset_index(drop=True), check_exact=False
    )


def test_a_duckdb_file_is_mapped_and_zoned_by_the_data_section(world, reference, tmp_path):
    import duckdb

    customers, events = export_frames(world)
    path = tmp_path / "export.duckdb"
    con = duckdb.connect(str(path))
    con.register("c", customers)
    con.register("e", events)
    con.execute("CREATE TABLE customers AS SELECT * FROM c")
    con.execute("CREATE TABLE events AS SELECT * FROM e")
    con.close()
    cfg = mapped_config()
    with catalog.dataset(path, cfg) as dataset:
        matrix = build_matrix(dataset, cfg, [AS_OF])
    pd.testing.assert_frame_equal(
        matrix.reset_index(drop=True), reference.reset_index(drop=True), check_exact=False
    )
    placed = mapped_config(events={"columns": EXPORT_NAMES, "path": "events.csv"})
    with pytest.raises(DataContractError, match=r"data\.events\.path: .* DuckDB file"):
        catalog.dataset(path, placed).__enter__()


def test_a_renamed_nanosecond_utc_parquet_timestamp_is_read(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.dataset import open_dataset

    nanos = pa.timestamp("ns", tz="UTC")
    instant = pd.Timestamp("2026-06-01 12:00", tz="UTC")
    pq.write_table(
        pa.table({"user_id": ["A"], "signup_at": pa.array([instant.value], nanos)}),
        tmp_path / "customers.parquet",
    )
    pq.write_table(
        pa.table({"user_id": ["A"], "time": pa.array([instant.value], nanos), "event": ["x"]}),
        tmp_path / "events.parquet",
    )
    sources = mapped_config(
        timezone=None, events={"columns": {"customer_id": "user_id", "ts": "time"}}
    ).data
    events = open_dataset(tmp_path, sources=sources).events.to_pandas()
    assert events["ts"].tolist() == [instant]


def test_a_mapped_column_missing_from_the_export_is_named(world, tmp_path) -> None:
    folder = write_export(world, tmp_path / "export", "csv")
    cfg = mapped_config(events={"columns": {**EXPORT_NAMES, "customer_id": "userId"}})
    with (
        pytest.raises(DataContractError, match=r"data\.events\.columns\.customer_id.*'userId'"),
        catalog.dataset(folder, cfg),
    ):
        pass


def test_naive_timestamps_without_a_zone_are_refused_naming_the_setting(world, tmp_path) -> None:
    folder = write_export(world, tmp_path / "export", "csv")
    cfg = mapped_config(timezone=None)
    with (
        pytest.raises(DataContractError, match=r"without a time zone.*data\.timezone"),
        catalog.dataset(folder, cfg),
    ):
        pass


def test_a_configured_path_points_at_a_table_anywhere_under_data(world, tmp_path) -> None:
    folder = write_export(world, tmp_path / "export", "jsonl")
    (folder / "exports").mkdir()
    (folder / "events.jsonl").rename(folder / "exports" / "tracks.jsonl")
    cfg = mapped_config(events={"columns": EXPORT_NAMES, "path": "exports/tracks.jsonl"})
    with catalog.dataset(folder, cfg) as dataset:
        assert dataset.events.count().execute() > 0
    wrong = mapped_config(events={"columns": EXPORT_NAMES, "path": "exports/nope.jsonl"})
    with (
        pytest.raises(DataContractError, match=r"data\.events\.path"),
        catalog.dataset(folder, wrong),
    ):
        pass


def test_a_labels_only_snapshot_needs_no_events_table(tmp_path) -> None:
    folder = tmp_path / "snapshot"
    folder.mkdir()
    ids = [f"c{i}" for i in range(40)]
    as_of = pd.Timestamp("2026-03-01", tz="UTC")
    pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": as_of - pd.Timedelta(days=100),
            "monthly_bill": [float(20 + i) for i in range(40)],
        }
    ).to_parquet(folder / "customers.parquet")
    pd.DataFrame(
        {"customer_id": ids, "as_of": as_of, "churned": [i % 4 == 0 for i in range(40)]}
    ).to_parquet(folder / "labels.parquet")
    raw = load_config("configs/bigml.yaml").model_dump()
    raw["features"]["profile_columns"] = ["monthly_bill"]
    raw["features"]["categorical_columns"] = []
    raw["scoring"]["value"]["column"] = "monthly_bill"
    from features.config import Config

    cfg = Config.model_validate(raw)
    with catalog.dataset(folder, cfg) as dataset:
        assert dataset.events.count().execute() == 0
        matrix = build_matrix(dataset, cfg, [as_of])
    assert len(matrix) == 40 and matrix["churned"].sum() == 10


def with_names(**changes):
    raw = load_config().model_dump()
    for setting, names in changes.items():
        section, key = setting.split("__")
        raw[section][key] = names
    from features.config import Config

    return Config.model_validate(raw)


def test_a_typo_in_an_event_name_fails_validation_with_the_closest_names(world, caplog) -> None:
    typo = with_names(signals__cancel_page=["cancel_page_veiw"], churn__events=["canceled"])
    with pytest.raises(DataContractError) as error, catalog.dataset(world, typo):
        pass
    message = str(error.value)
    assert "signals.cancel_page: event 'cancel_page_veiw' never occurs" in message
    assert "closest that occur: ['cancel_page_view'" in message
    assert "churn.events: event 'canceled' never occurs" in message
    # One absent name beside names that occur only warns (a generic config, partial data).
    extra = with_names(signals__support_contact=["support_call", "support_ticket"])
    with catalog.dataset(world, extra):
        pass
    assert "'support_ticket' never occurs" in caplog.text


def test_labels_of_customers_not_yet_signed_up_are_counted_as_excluded(tmp_path) -> None:
    from features.dataset import open_dataset
    from features.validation import validate_dataset

    folder = tmp_path / "snapshot"
    folder.mkdir()
    as_of = pd.Timestamp("2026-03-01", tz="UTC")
    ids = [f"c{i}" for i in range(12)]
    signup = [as_of - pd.Timedelta(days=30)] * 9 + [as_of] * 2 + [as_of + pd.Timedelta(days=1)]
    pd.DataFrame({"customer_id": ids, "signup_at": signup}).to_parquet(folder / "customers.parquet")
    pd.DataFrame({"customer_id": ids, "as_of": as_of, "churned": False}).to_parquet(
        folder / "labels.parquet"
    )
    cfg = load_config("configs/bigml.yaml")
    report = validate_dataset(open_dataset(folder), cfg)
    assert list(report.excluded.values()) == [3]
    assert any("3 row(s) excluded" in warning for warning in report.warnings)


def test_init_reads_an_export_through_a_sources_file_and_keeps_the_mapping(world, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    folder = write_export(world, tmp_path / "export", "csv")
    unmapped = CliRunner().invoke(app, ["init", "--data", str(folder), "--out", "x.yaml"])
    assert unmapped.exit_code == 3 and "--sources" in unmapped.output
    assert "data.events.columns.customer_id" in unmapped.output
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "data:\n  timezone: Europe/Berlin\n  customers: {columns: {customer_id: user_id}}\n"
        "  events: {columns: {customer_id: user_id, ts: timestamp, event: event_name}}\n"
    )
    out = tmp_path / "my.yaml"
    result = CliRunner().invoke(
        app, ["init", "--data", str(folder), "--out", str(out), "--sources", str(sources)]
    )
    assert result.exit_code == 0, result.output
    assert "validation passed" in result.output
    cfg = load_config(out)
    assert cfg.data.timezone == ZONE and cfg.data.events.columns == EXPORT_NAMES


def test_a_header_only_events_csv_is_no_events_and_unmapped_names_are_one_line(tmp_path):
    from features.dataset import open_dataset
    from features.validation import validate_dataset

    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id,signup_at\nc1,2026-01-01T00:00:00Z\n")
    (folder / "events.csv").write_text("customer_id,ts,event\n")
    (folder / "labels.csv").write_text("customer_id,as_of,churned\nc1,2026-03-01T00:00:00Z,true\n")
    report = validate_dataset(open_dataset(folder), load_config("configs/bigml.yaml"))
    assert report.events == 0 and report.labels == 1
    (folder / "events.csv").write_text("user_id,timestamp,event_name\nc1,2026-01-05T00:00:00Z,x\n")
    with pytest.raises(DataContractError) as error:
        validate_dataset(open_dataset(folder), load_config())
    events = [p for p in error.value.problems if p.startswith("events")]
    assert len(events) == 1
    assert "data.events.columns: {customer_id: <your column>, ts: <your column>" in events[0]


def test_consent_mapped_to_a_missing_column_fails_validation_naming_it(world) -> None:
    raw = load_config().model_dump()
    raw["decisions"]["consent"] = {"email": "email_ok"}
    from features.config import Config

    cfg = Config.model_validate(raw)
    message = r"decisions\.consent\.email: column 'email_ok'"
    with pytest.raises(DataContractError, match=message), catalog.dataset(world, cfg):
        pass


def test_a_sources_file_that_is_not_a_mapping_is_one_line(tmp_path) -> None:
    from features.errors import ConfigError
    from pipelines.init_config import read_sources

    listed = tmp_path / "sources.yaml"
    listed.write_text("- timezone: Europe/Berlin\n")
    with pytest.raises(ConfigError, match=r"--sources .*: expected a mapping with a data: section"):
        read_sources(listed)


def test_label_dates_stay_utc_midnight_under_a_local_time_zone(tmp_path) -> None:
    from features.config import DataSources
    from features.dataset import open_dataset

    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id,signup_at\nc1,2026-01-01 09:00:00\n")
    (folder / "events.csv").write_text("customer_id,ts,event\nc1,2026-01-05 10:00:00,login\n")
    (folder / "labels.csv").write_text("customer_id,as_of,churned\nc1,2026-03-01,true\n")
    dataset = open_dataset(folder, sources=DataSources(timezone="Europe/Berlin"))
    assert str(dataset.labels.to_pandas()["as_of"].iloc[0]) == "2026-03-01 00:00:00+00:00"
    assert str(dataset.events.to_pandas()["ts"].iloc[0]) == "2026-01-05 09:00:00+00:00"


def test_the_reports_retention_of_a_past_night_sees_nothing_after_it(world) -> None:
    from reporting.retention import lifetimes_and_revenue

    cfg, night = load_config(), pd.Timestamp("2026-03-01", tz="UTC")
    with catalog.dataset(world, cfg) as dataset:
        lifetimes, revenue, until = lifetimes_and_revenue(dataset, cfg, night)
        later, _, _ = lifetimes_and_revenue(dataset, cfg)
    assert until == night
    assert (lifetimes["signup_at"] < night).all() and (
        lifetimes["churned_at"].dropna() < night
    ).all()
    assert (revenue["month"] < night).all()
    assert len(later) > len(lifetimes)  # customers who signed up after the night exist


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_zoned_and_zone_less_times_in_one_column_are_each_read_as_written(tmp_path, kind):
    from features.config import DataSources
    from features.dataset import open_dataset

    folder = tmp_path / kind
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id,signup_at\nc1,2026-01-01\n")
    times = ["2026-03-01T12:00:00+05:00", "2026-03-01 12:00:00", "2026-07-01T09:30:00Z"]
    events = pd.DataFrame({"customer_id": "c1", "ts": times, "event": "login"})
    if kind == "csv":
        events.to_csv(folder / "events.csv", index=False)
    else:
        events.to_json(folder / "events.jsonl", orient="records", lines=True)
    zoned = open_dataset(folder, sources=DataSources(timezone="Europe/Berlin"))
    read = [str(t) for t in zoned.events.to_pandas()["ts"]]
    # +05:00 at its offset; the zone-less value in Berlin (winter, +01:00); Z as UTC.
    assert read == [
        "2026-03-01 07:00:00+00:00", "2026-03-01 11:00:00+00:00", "2026-07-01 09:30:00+00:00"
    ]  # fmt: skip
    assert str(zoned.customers.to_pandas()["signup_at"].iloc[0]) == "2025-12-31 23:00:00+00:00"
    # Without data.timezone the zone-less value has no place: validation names the column.
    from features.validation import validate_dataset

    with pytest.raises(DataContractError, match=r"events\.ts"):
        validate_dataset(open_dataset(folder), load_config("configs/bigml.yaml"))
