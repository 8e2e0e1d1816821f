"""BigML telecom churn (80/20 files) -> customers with attributes plus a given-labels table.

The source is a single snapshot without timestamps. Every customer is placed at one fixed
`AS_OF`; the label is the file's `Churn` and the split is the file it came from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.importers.common import (
    EVENTS_SCHEMA,
    LABELS_SCHEMA,
    ImportSourceError,
    ImportSummary,
    customers_schema,
    require_columns,
    snake_case,
    to_arrow,
    write_dataset,
)

log = logging.getLogger(__name__)

# The source has no dates. A fixed, documented as_of keeps the import deterministic; only
# differences from it (signup_at = as_of - account_length days) carry meaning.
AS_OF = pd.Timestamp("2024-01-01T00:00:00", tz="UTC")
SPLIT_FILES = {"train": "churn-bigml-80.csv", "test": "churn-bigml-20.csv"}
# Codes, not quantities: read as text so they become categories, never numbers.
TEXT_COLUMNS = ["State", "Area code", "International plan", "Voice mail plan", "Churn"]
CHARGE_COLUMNS = ["total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge"]
SOURCE_COLUMNS = [
    "State",
    "Account length",
    "Area code",
    "International plan",
    "Voice mail plan",
    "Number vmail messages",
    "Total day minutes",
    "Total day calls",
    "Total day charge",
    "Total eve minutes",
    "Total eve calls",
    "Total eve charge",
    "Total night minutes",
    "Total night calls",
    "Total night charge",
    "Total intl minutes",
    "Total intl calls",
    "Total intl charge",
    "Customer service calls",
    "Churn",
]
CHURN_VALUES = {"true": True, "false": False}


def read_split(path: Path) -> pd.DataFrame:
    """Read one BigML file with snake_case column names, codes kept as text."""
    frame = pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str))
    require_columns(frame, SOURCE_COLUMNS, path)
    churn = frame["Churn"].str.strip().str.lower()
    unknown = sorted(set(churn.dropna()) - set(CHURN_VALUES)) + (
        ["<empty>"] if churn.isna().any() else []
    )
    if unknown:
        raise ImportSourceError(
            f"{path}: column Churn has {len(unknown)} value(s) other than True/False, "
            f"e.g. {unknown[0]!r}; fix or remove those rows"
        )
    frame["Churn"] = churn.map(CHURN_VALUES).astype(bool)
    return frame.rename(columns=snake_case)


def rows_to_customers(rows: pd.DataFrame, split: str) -> pd.DataFrame:
    """Customers keyed by file and 1-based row number (`train-00001`), so results trace back."""
    customers = rows.drop(columns=["churn"]).copy()
    customers.insert(0, "customer_id", [f"{split}-{n:05d}" for n in range(1, len(rows) + 1)])
    customers.insert(
        1, "signup_at", AS_OF - pd.to_timedelta(rows["account_length"].astype("int64"), unit="D")
    )
    customers["signup_at"] = customers["signup_at"].astype("datetime64[us, UTC]")
    # Derived: the monthly bill in dollars, used as the scoring value (configs/bigml.yaml). It is
    # a sum of four attributes, so it is not listed as a feature.
    customers["total_charge"] = customers[CHARGE_COLUMNS].sum(axis=1).round(2)
    return customers


def rows_to_labels(rows: pd.DataFrame, customer_ids: pd.Series, split: str) -> pd.DataFrame:
    """The given label of each customer at AS_OF, with the split its file defines."""
    return pd.DataFrame(
        {
            "customer_id": customer_ids.to_numpy(),
            "as_of": pd.Series([AS_OF] * len(rows), dtype="datetime64[us, UTC]"),
            "churned": rows["churn"].to_numpy(dtype=bool),
            "split": split,
        }
    )


def import_bigml(src: Path, out: Path) -> ImportSummary:
    """Convert the folder holding both BigML files into a dataset folder at `out`."""
    src = Path(src)
    if not src.is_dir():
        raise ImportSourceError(
            f"bigml: source {src} is not a folder; pass the folder holding "
            f"{' and '.join(SPLIT_FILES.values())} (../shared/data/bigml-telecom)"
        )
    customer_parts, label_parts, notes = [], [], []
    for split, name in SPLIT_FILES.items():
        path = src / name
        if not path.is_file():
            raise ImportSourceError(
                f"bigml: {name} not found in {src}; both split files are needed"
            )
        rows = read_split(path)
        customers = rows_to_customers(rows, split)
        customer_parts.append(customers)
        label_parts.append(rows_to_labels(rows, customers["customer_id"], split))
        notes.append(
            f"{split}: {len(rows):,} rows from {name}, churn rate {rows['churn'].mean():.1%}"
        )
    customers = pd.concat(customer_parts, ignore_index=True)
    labels = pd.concat(label_parts, ignore_index=True)
    # The source has no events; an empty table with the contract's columns keeps one shape.
    events = EVENTS_SCHEMA.empty_table()
    write_dataset(
        out,
        {
            "customers": to_arrow(customers, customers_schema(customers)),
            "events": events,
            "labels": to_arrow(labels, LABELS_SCHEMA),
        },
    )
    notes.append(f"as_of {AS_OF:%Y-%m-%d %H:%M} UTC for every customer; no events in this source")
    log.info("bigml: %s", "; ".join(notes))
    return ImportSummary("bigml", Path(out), len(customers), 0, len(labels), notes)
