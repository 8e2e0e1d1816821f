"""The data contract, in one place: every table's columns and types, the keys, the UTC rule.

Validation, the importers, the synthetic generator, the scores writer and the Spark path all
read their schemas from here, so a column changes in one line. Types are Arrow types (the
files' own types); Ibis and Spark views are derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

# Every timestamp in the contract: microseconds, UTC.
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
UTC = "UTC"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = True  # a required column must be present; optional ones may be absent
    # Whether files we write declare the column nullable (Parquet OPTIONAL): keys and required
    # values are REQUIRED in every file the importers and the generator write.
    nullable: bool = False


@dataclass(frozen=True)
class TableSchema:
    """One table of the contract. `open_columns` tables (customers) may carry any other column."""

    name: str
    columns: tuple[Column, ...]
    open_columns: bool = False

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def arrow(self) -> pa.Schema:
        """The exact Arrow schema of the table's contract columns, in order."""
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    def spark_ddl(self) -> str:
        """The same columns in Spark's DDL (Spark keeps UTC by the session time zone)."""
        return ", ".join(f"{c.name} {_SPARK_TYPES[str(c.type)]}" for c in self.columns)


_SPARK_TYPES = {
    "string": "string",
    "double": "double",
    "bool": "boolean",
    str(UTC_TIMESTAMP): "timestamp",
}

CUSTOMERS = TableSchema(
    "customers",
    (Column("customer_id", pa.string()), Column("signup_at", UTC_TIMESTAMP)),
    open_columns=True,  # any other column is a profile attribute (plan, country, ...)
)
EVENTS = TableSchema(
    "events",
    (
        Column("customer_id", pa.string()),
        Column("ts", UTC_TIMESTAMP),
        Column("event", pa.string()),
        Column("value", pa.float64(), required=False, nullable=True),
        Column("session_id", pa.string(), required=False, nullable=True),
    ),
)
LABELS = TableSchema(
    "labels",
    (
        Column("customer_id", pa.string()),
        Column("as_of", UTC_TIMESTAMP),
        Column("churned", pa.bool_()),
        Column("split", pa.string(), required=False, nullable=True),
    ),
)
# The nightly scores table: one row per active customer per as_of. Its Parquet columns are all
# nullable (OPTIONAL), as they have been since the first nightly file: same rows, same bytes.
SCORES = TableSchema(
    "scores",
    (
        Column("customer_id", pa.string(), nullable=True),
        Column("as_of", UTC_TIMESTAMP, nullable=True),
        Column("churn_probability", pa.float64(), nullable=True),
        Column("value", pa.float64(), nullable=True),
        Column("expected_loss", pa.float64(), nullable=True),
        Column("expected_profit", pa.float64(), nullable=True),
        Column("tier", pa.string(), nullable=True),
        Column("control", pa.bool_(), nullable=True),
        Column("action", pa.string(), nullable=True),
        Column("reason_1", pa.string(), nullable=True),
        Column("reason_2", pa.string(), nullable=True),
        Column("reason_3", pa.string(), nullable=True),
        Column("reason_1_contribution", pa.float64(), nullable=True),
        Column("reason_2_contribution", pa.float64(), nullable=True),
        Column("reason_3_contribution", pa.float64(), nullable=True),
        Column("protective_factor", pa.string(), nullable=True),
        Column("protective_contribution", pa.float64(), nullable=True),
        Column("model_version", pa.string(), nullable=True),
    ),
)
# A chunk scored and explained, before the day's decisions (models.decisions needs the whole
# day for the contact budget): the scores' per-customer columns plus what picks the action.
_DECIDED_LATER = ("expected_loss", "expected_profit", "tier", "control", "action")
EXPLAINED = TableSchema(
    "explained",
    (
        *(c for c in SCORES.columns if c.name not in _DECIDED_LATER),
        Column("reason_1_family", pa.string(), nullable=True),
        Column("reason_1_direction", pa.string(), nullable=True),
    ),
)

INPUT_TABLES = (CUSTOMERS, EVENTS, LABELS)
REQUIRED_TABLES = ("customers", "events")
# Columns read as text from CSV whatever they look like ("1001" is an id, not a number).
TEXT_COLUMNS = tuple(
    sorted({c.name for t in INPUT_TABLES for c in t.columns if c.type == pa.string()})
)

# The columns of a feature matrix that are not features: who, when, and the labels (churn, and
# the revenue in the value horizon after the cutoff, `future_revenue`, that the value model
# learns; a label is never a feature).
KEY_COLUMNS = ("customer_id", "cutoff", "churned", "split", "future_revenue")


def as_utc(moment: object) -> pd.Timestamp:
    """A moment as a UTC timestamp; a naive one is taken to be UTC already (the contract's rule
    for dates given on the command line and in configs; data files must carry their zone)."""
    moment = pd.Timestamp(moment)
    return moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)


def series_as_naive_utc(series: pd.Series) -> pd.Series:
    """A tz-aware series as naive UTC wall times (for Arrow and period arithmetic)."""
    return series.dt.tz_convert(UTC).dt.tz_localize(None)
