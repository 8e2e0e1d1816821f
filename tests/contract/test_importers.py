"""Importers of the public datasets: counts against the source files, contract types, privacy, CLI.

Expected numbers are recomputed here from the raw files with the standard library or a pandas
groupby, never taken from the importer, so a wrong conversion fails.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.atomic import OWNED_MARKER
from features.config import load_config
from features.importers import ImportSourceError, import_dataset
from features.importers.cdnow import purchases_to_events
from features.importers.common import snake_case

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared datasets not found at {DATA} (they live beside the checkout)"
)

UTC_US = pa.timestamp("us", tz="UTC")
EVENTS_TYPES = {
    "customer_id": pa.string(),
    "ts": UTC_US,
    "event": pa.string(),
    "value": pa.float64(),
    "session_id": pa.string(),
}
CUSTOMER_KEY_TYPES = {"customer_id": pa.string(), "signup_at": UTC_US}
LABELS_TYPES = {
    "customer_id": pa.string(),
    "as_of": UTC_US,
    "churned": pa.bool_(),
    "split": pa.string(),
}
PERSONAL_FIELDS = ["firstName", "lastName", "location", "userAgent", "gender", "artist", "song"]


def _types(path: Path) -> dict[str, pa.DataType]:
    return {field.name: field.type for field in pq.read_schema(path)}


def _assert_contract_types(folder: Path) -> None:
    events = _types(folder / "events.parquet")
    customers = _types(folder / "customers.parquet")
    assert events == EVENTS_TYPES
    assert {name: customers[name] for name in CUSTOMER_KEY_TYPES} == CUSTOMER_KEY_TYPES


def _assert_signup_before_first_event(folder: Path) -> None:
    customers = pd.read_parquet(folder / "customers.parquet").set_index("customer_id")
    first = pd.read_parquet(folder / "events.parquet").groupby("customer_id")["ts"].min()
    assert customers.index.is_unique
    joined = customers.join(first, how="inner")
    assert len(joined) == len(first)  # every event belongs to a known customer
    assert (joined["signup_at"] <= joined["ts"]).all()


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, Path]:
    """Each source imported once for the module: about a second in all."""
    root = tmp_path_factory.mktemp("imported")
    sources = {
        "cdnow": DATA / "cdnow",
        "bigml": DATA / "bigml-telecom",
        "eventsim": DATA / "eventsim" / "log_data_2018-11.jsonl.gz",
    }
    return {kind: _import(kind, src, root / kind) for kind, src in sources.items()}


def _import(kind: str, src: Path, out: Path) -> Path:
    import_dataset(kind, src, out)
    return out


# --- pure steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NextSong", "next_song"),
        ("Submit Downgrade", "submit_downgrade"),
        ("Save Settings", "save_settings"),
        ("Home", "home"),
        ("Area code", "area_code"),
        ("Number vmail messages", "number_vmail_messages"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_same_day_purchases_are_summed_into_one_event() -> None:
    purchases = pd.DataFrame(
        {
            "customer_id": ["00002", "00002", "00002", "00003"],
            "date": ["19970112", "19970112", "19970115", "19970102"],
            "number_of_cds": [1, 5, 1, 2],
            "dollar_value": [12.0, 77.0, 12.0, 20.76],
        }
    )
    events = purchases_to_events(purchases)
    assert list(events["customer_id"]) == ["00002", "00002", "00003"]
    assert list(events["value"]) == [89.0, 12.0, 20.76]
    assert str(events["ts"].dtype) == "datetime64[us, UTC]"
    assert events["ts"].iloc[0] == pd.Timestamp("1997-01-12", tz="UTC")
    assert set(events["event"]) == {"purchase"}


# --- CDNOW -----------------------------------------------------------------------------------


def _cdnow_rows() -> list[list[str]]:
    with gzip.open(DATA / "cdnow" / "CDNOW_master.txt.gz", "rt") as handle:
        rows = [line.split() for line in handle]
    return [row for row in rows[1:] if row]  # first line is the header


@needs_data
def test_cdnow_counts_match_the_source(imported: dict[str, Path]) -> None:
    rows = _cdnow_rows()
    source = pd.DataFrame(rows, columns=["customer_id", "date", "cds", "dollars"])
    source["dollars"] = source["dollars"].astype(float)
    daily = source.groupby(["customer_id", "date"])["dollars"].sum()
    customers = pd.read_parquet(imported["cdnow"] / "customers.parquet")
    events = pd.read_parquet(imported["cdnow"] / "events.parquet")
    assert len(rows) == 69_659
    assert len(customers) == 23_570 == source["customer_id"].nunique()
    assert len(events) == len(daily) == 67_591
    assert events["value"].sum() == pytest.approx(source["dollars"].sum(), abs=0.01)
    # Aggregation leaves no two events at the same instant for one customer.
    assert not events.duplicated(["customer_id", "ts"]).any()
    assert set(events["event"]) == {"purchase"}


@needs_data
def test_cdnow_keeps_source_ids_and_first_purchase_as_signup(imported: dict[str, Path]) -> None:
    folder = imported["cdnow"]
    _assert_contract_types(folder)
    _assert_signup_before_first_event(folder)
    customers = pd.read_parquet(folder / "customers.parquet").set_index("customer_id")
    assert customers.loc["00001", "signup_at"] == pd.Timestamp("1997-01-01", tz="UTC")
    assert customers["signup_at"].max() == pd.Timestamp("1997-03-25", tz="UTC")
    events = pd.read_parquet(folder / "events.parquet")
    assert (events["ts"] == events["ts"].dt.normalize()).all()  # 00:00 UTC of the purchase day
    assert events["ts"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert events["ts"].max() == pd.Timestamp("1998-06-30", tz="UTC")
    first = events.groupby("customer_id")["ts"].min()
    assert (customers["signup_at"] == first.reindex(customers.index)).all()


# --- BigML -----------------------------------------------------------------------------------


def _bigml_rows(name: str) -> list[dict[str, str]]:
    with open(DATA / "bigml-telecom" / name, newline="") as handle:
        return list(csv.DictReader(handle))


@needs_data
def test_bigml_rows_labels_and_churn_rates(imported: dict[str, Path]) -> None:
    folder = imported["bigml"]
    train, test = _bigml_rows("churn-bigml-80.csv"), _bigml_rows("churn-bigml-20.csv")
    labels = pd.read_parquet(folder / "labels.parquet")
    customers = pd.read_parquet(folder / "customers.parquet")
    assert len(customers) == len(labels) == len(train) + len(test)
    # The shared 80 file has 2,661 rows (its README says 2,666); 667 in the 20 file.
    assert (len(train), len(test)) == (2_661, 667)
    by_split = labels.groupby("split")["churned"].agg(["size", "mean"])
    assert by_split.loc["train", "size"] == len(train)
    assert by_split.loc["test", "size"] == len(test)
    assert round(by_split.loc["train", "mean"], 3) == 0.145
    assert round(by_split.loc["test", "mean"], 3) == 0.142
    source_churn = [row["Churn"].strip().upper() == "TRUE" for row in train + test]
    assert labels["churned"].tolist() == source_churn
    assert _types(folder / "labels.parquet") == LABELS_TYPES
    assert (labels["as_of"] == pd.Timestamp("2024-01-01", tz="UTC")).all()


@needs_data
def test_bigml_ids_keep_file_and_row_order(imported: dict[str, Path]) -> None:
    folder = imported["bigml"]
    customers = pd.read_parquet(folder / "customers.parquet")
    labels = pd.read_parquet(folder / "labels.parquet")
    train, test = _bigml_rows("churn-bigml-80.csv"), _bigml_rows("churn-bigml-20.csv")
    expected_ids = [f"train-{n:05d}" for n in range(1, len(train) + 1)] + [
        f"test-{n:05d}" for n in range(1, len(test) + 1)
    ]
    assert customers["customer_id"].tolist() == expected_ids
    assert labels["customer_id"].tolist() == expected_ids
    # Row n of each file is customer n: attributes line up with the source rows.
    indexed = customers.set_index("customer_id")
    for split, rows in (("train", train), ("test", test)):
        for n in (1, len(rows) // 2, len(rows)):
            row, customer = rows[n - 1], indexed.loc[f"{split}-{n:05d}"]
            assert customer["state"] == row["State"]
            assert customer["area_code"] == row["Area code"]
            assert customer["account_length"] == int(row["Account length"])
            assert customer["total_day_charge"] == pytest.approx(float(row["Total day charge"]))
            assert customer["customer_service_calls"] == int(row["Customer service calls"])
            expected_signup = pd.Timestamp("2024-01-01", tz="UTC") - pd.Timedelta(
                days=int(row["Account length"])
            )
            assert customer["signup_at"] == expected_signup


@needs_data
def test_bigml_attributes_and_empty_events(imported: dict[str, Path]) -> None:
    folder = imported["bigml"]
    _assert_contract_types(folder)
    assert pq.read_metadata(folder / "events.parquet").num_rows == 0
    types = _types(folder / "customers.parquet")
    for code in ("state", "area_code", "international_plan", "voice_mail_plan"):
        assert types[code] == pa.string()
    for number in ("total_day_minutes", "total_intl_charge", "total_charge"):
        assert types[number] == pa.float64()
    customers = pd.read_parquet(folder / "customers.parquet")
    charges = customers.filter(like="_charge").drop(columns="total_charge").sum(axis=1)
    assert (customers["total_charge"] - charges).abs().max() < 0.006


# --- eventsim --------------------------------------------------------------------------------


def _eventsim_records() -> list[dict]:
    with gzip.open(DATA / "eventsim" / "log_data_2018-11.jsonl.gz", "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@needs_data
def test_eventsim_counts_and_sessions(imported: dict[str, Path]) -> None:
    folder = imported["eventsim"]
    records = _eventsim_records()
    kept = [r for r in records if r.get("userId")]
    events = pd.read_parquet(folder / "events.parquet")
    customers = pd.read_parquet(folder / "customers.parquet")
    assert len(records) == 8_056
    assert len(events) == len(kept) == 8_056 - 286
    assert len(customers) == len({r["userId"] for r in kept}) == 97
    _assert_contract_types(folder)
    _assert_signup_before_first_event(folder)
    assert events["session_id"].map(type).eq(str).all()
    assert events["session_id"].notna().all()
    pages = Counter(snake_case(r["page"]) for r in kept)
    assert Counter(events["event"]) == pages
    assert {"next_song", "home", "help", "downgrade", "submit_downgrade"} <= set(pages)
    # Song length in seconds on song plays only.
    assert events.loc[events["value"].notna(), "event"].unique().tolist() == ["next_song"]
    assert events["value"].sum() == pytest.approx(sum(r["length"] or 0 for r in kept))


@needs_data
def test_eventsim_keeps_no_personal_data(imported: dict[str, Path]) -> None:
    folder = imported["eventsim"]
    records = _eventsim_records()
    # Numeric titles (a song "143", the band "311") collide with ids and session numbers and
    # identify nobody: compare the values that are not plain numbers.
    personal = {
        str(r[f])
        for r in records
        for f in PERSONAL_FIELDS
        if r.get(f) not in (None, "") and not str(r[f]).isdigit()
    }
    assert len(personal) > 100  # the source does carry names, places, songs
    written: set[str] = set()
    for path in folder.glob("*.parquet"):
        table = pq.read_table(path)
        assert not {name.lower() for name in table.column_names} & {
            f.lower() for f in PERSONAL_FIELDS
        }
        for column in table.columns:
            written.update(str(value) for value in column.to_pylist())
        metadata = table.schema.metadata or {}
        written.update(value.decode() for value in metadata.values())
    assert not personal & written
    # Names would show even inside longer strings (file bytes, metadata).
    names = {str(r[f]) for r in records for f in ("firstName", "lastName") if r.get(f)}
    raw = b"".join(path.read_bytes() for path in folder.glob("*.parquet"))
    assert not [name for name in names if len(name) >= 5 and name.encode() in raw]


# --- errors and the CLI ----------------------------------------------------------------------


def test_missing_source_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="does not exist"):
        import_dataset("cdnow", tmp_path / "nope", tmp_path / "out")
    with pytest.raises(ImportSourceError, match="not a folder"):
        import_dataset("bigml", tmp_path / "nope.csv", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_wrong_file_names_the_missing_columns(tmp_path: Path) -> None:
    wrong = tmp_path / "CDNOW_master.txt"
    wrong.write_text("a b\n1 2\n")
    with pytest.raises(ImportSourceError, match=r"missing column\(s\) \['customer_id'"):
        import_dataset("cdnow", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_data
def test_cli_imports_cdnow(tmp_path: Path) -> None:
    from pipelines.cli import app

    out = tmp_path / "cdnow"
    result = CliRunner().invoke(
        app,
        ["data", "import", "cdnow", str(DATA / "cdnow" / "CDNOW_master.txt.gz"), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "23,570" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [OWNED_MARKER, "customers.parquet", "events.parquet"]


def test_cli_missing_source_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    from pipelines.cli import app

    out = tmp_path / "out" / "cdnow"
    missing = tmp_path / "no-such-file.txt.gz"
    result = CliRunner().invoke(app, ["data", "import", "cdnow", str(missing), "--out", str(out)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "error:" in lines[0] and "no-such-file.txt.gz" in lines[0]
    assert list(tmp_path.iterdir()) == []


# --- configs ---------------------------------------------------------------------------------


def test_cdnow_config() -> None:
    cfg = load_config(CONFIGS / "cdnow.yaml")
    cutoffs = [pd.Timestamp(c) for c in cfg.snapshots.cutoffs]
    assert cutoffs == list(pd.date_range("1997-04-01", "1998-01-01", freq="MS"))
    assert cfg.churn.source == "inactivity" and cfg.churn.inactive_days == 182
    assert cfg.snapshots.horizon_days == 182
    assert cfg.signals.activity == ["purchase"] == cfg.signals.payment
    assert cfg.features.profile_columns == []
    # The out-of-time test cutoff's horizon ends exactly at the declared end of observation.
    assert cutoffs[-1] + pd.Timedelta(days=182) == pd.Timestamp(cfg.snapshots.observed_until)


def test_bigml_config() -> None:
    cfg = load_config(CONFIGS / "bigml.yaml")
    assert cfg.churn.source == "labels"
    assert all(not names for names in cfg.signals.model_dump().values())
    assert cfg.features.builders == ["profile_attributes"]
    assert set(cfg.features.categorical_columns) <= set(cfg.features.profile_columns)
    assert cfg.scoring.value.source == "column"


def test_eventsim_config() -> None:
    cfg = load_config(CONFIGS / "eventsim.yaml")
    assert cfg.churn.source == "inactivity" and cfg.churn.inactive_days <= 14
    last = pd.Timestamp(max(cfg.snapshots.cutoffs))
    assert last + pd.Timedelta(days=cfg.snapshots.horizon_days) <= pd.Timestamp("2018-12-01")
    assert cfg.snapshots.lookback_days <= 31


@needs_data
def test_configs_name_what_the_imports_contain(imported: dict[str, Path]) -> None:
    """Every event name and column a config refers to exists in its imported dataset."""
    for kind in ("cdnow", "bigml", "eventsim"):
        cfg = load_config(CONFIGS / f"{kind}.yaml")
        events = set(pd.read_parquet(imported[kind] / "events.parquet")["event"])
        mapped = {name for names in cfg.signals.model_dump().values() for name in names}
        assert mapped <= events, (kind, mapped - events)
        columns = set(pq.read_schema(imported[kind] / "customers.parquet").names)
        assert set(cfg.features.profile_columns) <= columns
        if cfg.scoring.value.column:
            assert cfg.scoring.value.column in columns
    bigml_attributes = set(pq.read_schema(imported["bigml"] / "customers.parquet").names)
    profile = set(load_config(CONFIGS / "bigml.yaml").features.profile_columns)
    assert bigml_attributes - profile == {"customer_id", "signup_at"}


@needs_data
def test_rerun_replaces_output_with_identical_bytes(
    imported: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "eventsim"
    out.mkdir()
    (out / OWNED_MARKER).write_text('{"written_by": "churn data import"}\n')  # churn's folder
    (out / "stale.parquet").write_bytes(b"left over from an older import")
    import_dataset("eventsim", DATA / "eventsim", out)
    names = sorted(p.name for p in out.iterdir())
    assert names == [OWNED_MARKER, "customers.parquet", "events.parquet"]
    for path in out.glob("*.parquet"):
        assert path.read_bytes() == (imported["eventsim"] / path.name).read_bytes()


@needs_data
@pytest.mark.parametrize("kind", ["cdnow", "bigml", "eventsim"])
def test_churn_validate_accepts_each_import(imported: dict[str, Path], kind: str) -> None:
    from features.dataset import open_dataset
    from features.validation import validate_dataset

    report = validate_dataset(open_dataset(imported[kind]), load_config(CONFIGS / f"{kind}.yaml"))
    expected = {"cdnow": (23_570, 67_591), "bigml": (3_328, 0), "eventsim": (97, 7_770)}[kind]
    assert (report.customers, report.events_kept) == expected
    assert report.duplicate_events_dropped == 0
    assert report.events_before_signup == 0
    assert report.labels == (3_328 if kind == "bigml" else None)
