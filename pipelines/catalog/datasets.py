"""Datasets: opened one way (validated, cleaned, DuckDB memory bounded); matrices written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.validated import validated_dataset, validated_with_report
from features.validation import ValidationReport
from models.decisions import consent_matrix

# Every command opens its data through these two (the second also yields validation's report).
dataset = validated_dataset
validated = validated_with_report


def validation_report(path: Path | str, cfg: Config) -> ValidationReport:
    """Validate a dataset under the same memory bound, for `churn validate`."""
    with validated_with_report(path, cfg) as (_dataset, report):
        return report


def consent(dataset, cfg: Config) -> pd.DataFrame | None:
    """Each customer's marketing consent per channel of `decisions.consent` (None when no
    channel is mapped), from a validated dataset (validation checked the columns exist)."""
    channels = cfg.decisions.consent
    if not channels:
        return None
    columns = ["customer_id", *dict.fromkeys(channels.values())]
    return consent_matrix(dataset.customers.select(columns).to_pandas(), cfg.decisions)


def write_csv(frame: pd.DataFrame, out: Path) -> None:
    """A table as CSV, replacing `out` whole or not at all."""
    with atomic_file(out) as staging:
        frame.to_csv(staging, index=False)


def write_matrix(matrix: pd.DataFrame, out: Path) -> None:
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
