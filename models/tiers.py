"""A customer's value: where it comes from (`scoring.value`) and its number per row.

Tiers and actions follow from value and risk in `models.decisions`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.config import Config, ValueSpec
from features.errors import ConfigError
from models.value import ExpectedValue

if TYPE_CHECKING:
    from models.bundle import ModelBundle

log = logging.getLogger(__name__)


def value_column(spec: ValueSpec) -> str:
    """The matrix column that holds each customer's value."""
    if spec.source == "column":
        return str(spec.column)
    return f"revenue_{spec.revenue_days}d"


def check_value_source(
    columns: list[str], cfg: Config, bundle: ModelBundle | None = None
) -> str | ExpectedValue | None:
    """Where each customer's value comes from: the bundle's value model (`expected`), a matrix
    column, None when the dataset has no payments (value 0), or a ConfigError."""
    if cfg.scoring.value.source == "expected":
        if bundle is None or bundle.value_model is None:
            raise ConfigError(
                "scoring.value.source is 'expected' but the model has no value model (value.txt): "
                "retrain it with this config (churn train), or choose scoring.value.source "
                "revenue or column"
            )
        return ExpectedValue(bundle.value_model, bundle.spec)
    column = value_column(cfg.scoring.value)
    if column in columns:
        return column
    if cfg.scoring.value.source == "revenue" and not cfg.signals.payment:
        log.warning("no payment events are mapped (signals.payment): every customer's value is 0")
        return None
    raise ConfigError(
        f"scoring.value: column {column!r} is not in the feature matrix; add the builder "
        f"{column!r} to features.builders (or a profile column to features.profile_columns), "
        "or choose another scoring.value"
    )


def customer_value(frame: pd.DataFrame, column: str | ExpectedValue | None) -> np.ndarray:
    """Value per row: the value model's expected revenue, or a column's (missing counts as 0: no
    revenue is no value at risk)."""
    if isinstance(column, ExpectedValue):
        return column(frame)
    if column is None:
        return np.zeros(len(frame))
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    return np.nan_to_num(values, nan=0.0)
