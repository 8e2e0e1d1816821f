"""Datasets: opened one way (validated, cleaned, DuckDB memory bounded); matrices written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.validated import validated_dataset, validated_with_report
from features.validation import ValidationReport

# Every command opens its data through these two (the second also yields validation's report).
dataset = validated_dataset
validated = validated_with_report


def validation_report(path: Path | str, cfg: Config) -> ValidationReport:
    """Validate a dataset under the same memory bound, for `churn validate`."""
    with validated_with_report(path, cfg) as (_dataset, report):
        return report


def write_matrix(matrix: pd.DataFrame, out: Path) -> None:
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
