"""Datasets: opened one way (validated, cleaned, DuckDB memory bounded); matrices written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.dataset import Dataset, open_dataset
from features.validated import validated_dataset, validated_with_report
from features.validation import ValidationReport, validate_dataset


@contextmanager
def dataset(
    path: Path | str,
    cfg: Config,
    engine: str = "duckdb",
    spark_master: str = "local[*]",
    spark_conf: dict[str, str] | None = None,
) -> Iterator[Dataset]:
    """The validated, cleaned dataset while the block runs (nothing is written on bad input)."""
    with validated_dataset(path, cfg, engine, spark_master, spark_conf) as opened:
        yield opened


@contextmanager
def validated(
    path: Path | str,
    cfg: Config,
    engine: str = "duckdb",
    spark_master: str = "local[*]",
    spark_conf: dict[str, str] | None = None,
) -> Iterator[tuple[Dataset, ValidationReport]]:
    """As `dataset`, with validation's report (what cleaning dropped, for a manifest)."""
    with validated_with_report(path, cfg, engine, spark_master, spark_conf) as opened:
        yield opened


def validation_report(path: Path | str, cfg: Config) -> ValidationReport:
    """Validate a dataset under the same memory bound, for `churn validate`."""
    from features.validated import bounded_duckdb

    opened = open_dataset(path)
    with bounded_duckdb(opened.con, cfg.engine.duckdb_memory_limit):
        return validate_dataset(opened, cfg)


def write_matrix(matrix: pd.DataFrame, out: Path) -> None:
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
