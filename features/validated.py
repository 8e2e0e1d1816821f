"""Open a dataset on the chosen engine, validated against the data contract and cleaned."""

from __future__ import annotations

from pathlib import Path

from features.config import Config
from features.dataset import Dataset, open_dataset
from features.engines import Engine, connect
from features.validation import validate_dataset


def open_validated(
    path: Path | str, cfg: Config, engine: Engine = "duckdb", spark_master: str = "local[*]"
) -> Dataset:
    """The validated, cleaned dataset, its tables lazy on `engine`."""
    report = validate_dataset(open_dataset(path), cfg)
    if engine == "duckdb":
        return report.dataset
    # Validation's checks use DuckDB-only typing (Spark reads timestamps without a zone), so the
    # contract is checked on DuckDB over the same files and the same cleaning is replayed on Spark.
    raw = open_dataset(path, con=connect(engine, spark_master))
    known = raw.customers.select("customer_id").distinct()
    events = raw.events
    if report.duplicate_events_dropped:
        events = events.distinct()
    if report.unknown_customer_events_dropped:
        events = events.semi_join(known, "customer_id")
    labels = raw.labels.semi_join(known, "customer_id") if raw.labels is not None else None
    return Dataset(raw.con, raw.customers, events, labels, raw.source)
