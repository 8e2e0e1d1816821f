"""The data contract is written once: validation, importers, loading and keys all read it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from features import contract
from features.dataset import CSV_STRING_COLUMNS, REQUIRED_TABLES, TABLES, open_dataset
from features.importers.common import CUSTOMER_KEYS, EVENTS_SCHEMA, LABELS_SCHEMA
from features.validation import ARROW_UTC, CONTRACT

ROOT = Path(__file__).resolve().parents[2]


def test_validation_checks_every_contract_column_with_its_type_and_requirement() -> None:
    assert list(CONTRACT) == [table.name for table in contract.INPUT_TABLES]
    for table in contract.INPUT_TABLES:
        assert list(CONTRACT[table.name]) == table.names
        for column in table.columns:
            dtype, required = CONTRACT[table.name][column.name]
            assert dtype == ibis.dtype(column.type), f"{table.name}.{column.name}"
            assert required == column.required, f"{table.name}.{column.name}"


def test_contract_types_are_the_documented_ones() -> None:
    utc = ibis.dtype("timestamp('UTC', 6)")
    assert CONTRACT["customers"] == {
        "customer_id": (ibis.dtype("string"), True),
        "signup_at": (utc, True),
    }
    assert CONTRACT["events"] == {
        "customer_id": (ibis.dtype("string"), True),
        "ts": (utc, True),
        "event": (ibis.dtype("string"), True),
        "value": (ibis.dtype("float64"), False),
        "session_id": (ibis.dtype("string"), False),
    }
    assert CONTRACT["labels"]["churned"] == (ibis.dtype("boolean"), True)
    assert CONTRACT["labels"]["split"] == (ibis.dtype("string"), False)
    assert ARROW_UTC == "timestamp[us, tz=UTC]"


def test_importer_schemas_are_the_contract_with_non_nullable_keys() -> None:
    assert EVENTS_SCHEMA.equals(contract.EVENTS.arrow())
    assert LABELS_SCHEMA.equals(contract.LABELS.arrow())
    assert pa.schema(CUSTOMER_KEYS).equals(contract.CUSTOMERS.arrow())
    # Parquet REQUIRED for keys and required values, OPTIONAL for optional columns.
    nullable = {f.name: f.nullable for f in EVENTS_SCHEMA}
    assert nullable == {
        "customer_id": False,
        "ts": False,
        "event": False,
        "value": True,
        "session_id": True,
    }
    assert [f.nullable for f in CUSTOMER_KEYS] == [False, False]
    assert {f.name: f.nullable for f in LABELS_SCHEMA}["split"] is True


def test_dataset_tables_and_csv_text_columns_come_from_the_contract() -> None:
    assert TABLES == ("customers", "events", "labels")
    assert REQUIRED_TABLES == ("customers", "events")
    strings = {
        c.name for t in contract.INPUT_TABLES for c in t.columns if pa.types.is_string(c.type)
    }
    assert set(CSV_STRING_COLUMNS) == strings == {"customer_id", "event", "session_id", "split"}


def test_csv_ids_that_look_like_numbers_are_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "customer_id,signup_at,plan_price\n1001,2024-01-01T00:00:00Z,9.5\n"
    )
    (tmp_path / "events.csv").write_text(
        "customer_id,ts,event,session_id\n1001,2024-02-01T00:00:00Z,1,42\n"
    )
    dataset = open_dataset(tmp_path)
    assert dataset.customers.customer_id.type().is_string()
    # Not sniffed: a number like "9,99" beyond the sniffer's sample would abort the read;
    # validation parses the numeric columns and names the values that do not parse.
    assert dataset.customers.plan_price.type().is_string()
    assert {name: dataset.events[name].type().is_string() for name in ("customer_id", "event")} == {
        "customer_id": True,
        "event": True,
    }
    assert dataset.events.session_id.type().is_string()
    assert dataset.events.customer_id.execute().tolist() == ["1001"]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2024-03-01 12:00", "2024-03-01 12:00"),  # naive: taken to be UTC already
        (pd.Timestamp("2024-03-01 12:00", tz="UTC"), "2024-03-01 12:00"),
        (pd.Timestamp("2024-03-01 12:00+02:00"), "2024-03-01 10:00"),
    ],
)
def test_as_utc(moment: object, expected: str) -> None:
    result = contract.as_utc(moment)
    assert str(result.tz) == "UTC"
    assert result == pd.Timestamp(expected, tz="UTC")


def test_scores_spark_ddl_names_every_column_in_order() -> None:
    ddl = contract.SCORES.spark_ddl()
    pairs = [item.split(" ") for item in ddl.split(", ")]
    assert [name for name, _ in pairs] == contract.SCORES.names
    types = dict(pairs)
    assert types["as_of"] == "timestamp"
    assert types["churn_probability"] == "double"
    assert types["reason_1"] == "string"


def test_key_columns_are_defined_once() -> None:
    from features import matrix
    from models import spec, split

    assert matrix.KEY_COLUMNS is spec.KEY_COLUMNS is contract.KEY_COLUMNS
    assert not hasattr(split, "KEY_COLUMNS")  # the split never needed its own copy


def test_registry_does_not_import_config() -> None:
    code = "import sys, features.registry; print('features.config' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
