"""Datasets: opened one way (validated, cleaned, DuckDB memory bounded); matrices written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.errors import ConfigError
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
    channel is mapped); a mapped column the customers table lacks is a config error."""
    channels = cfg.decisions.consent
    if not channels:
        return None
    missing = {ch: col for ch, col in channels.items() if col not in dataset.customers.columns}
    if missing:
        channel, column = next(iter(missing.items()))
        raise ConfigError(
            f"decisions.consent.{channel}: column {column!r} is not in the customers table; "
            "name the column holding that channel's consent, or remove the channel"
        )
    columns = ["customer_id", *dict.fromkeys(channels.values())]
    return consent_matrix(dataset.customers.select(columns).to_pandas(), cfg.decisions)


def write_csv(frame: pd.DataFrame, out: Path) -> None:
    """A table as CSV, replacing `out` whole or not at all."""
    with atomic_file(out) as staging:
        frame.to_csv(staging, index=False)


def write_matrix(matrix: pd.DataFrame, out: Path) -> None:
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
