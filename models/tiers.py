"""Value, risk and value tiers, the combined tier from expected revenue at risk, and the action.

Every threshold comes from `scoring.tiers`, so tiers are fixed rules a marketer can read, not
quantiles of the day (which would move with the population and need the whole day at once).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.config import Config, Scoring, Tiers, ValueSpec
from features.errors import ConfigError

log = logging.getLogger(__name__)

TIERS = ("high", "medium", "other")
BANDS = ("high", "medium", "low")


def value_column(spec: ValueSpec) -> str:
    """The matrix column that holds each customer's value."""
    if spec.source == "column":
        return str(spec.column)
    return f"revenue_{spec.revenue_days}d"


def check_value_source(columns: list[str], cfg: Config) -> str | None:
    """The value column, None when the dataset has no payments (value 0), or a ConfigError."""
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


def customer_value(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """Value per row (missing counts as 0: no revenue is no value at risk)."""
    if column is None:
        return np.zeros(len(frame))
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    return np.nan_to_num(values, nan=0.0)


def band(values: np.ndarray, high: float, medium: float, labels: tuple[str, ...]) -> np.ndarray:
    """labels[0] at or above `high`, labels[1] at or above `medium`, labels[2] below."""
    return np.where(values >= high, labels[0], np.where(values >= medium, labels[1], labels[2]))


def assign_tiers(probability: np.ndarray, value: np.ndarray, tiers: Tiers) -> pd.DataFrame:
    """risk_tier, value_tier, expected_loss (= probability x value) and tier per row."""
    expected_loss = probability * value
    return pd.DataFrame(
        {
            "risk_tier": band(probability, tiers.high_risk, tiers.medium_risk, BANDS),
            "value": value,
            "value_tier": band(value, tiers.high_value, tiers.medium_value, BANDS),
            "tier": band(
                expected_loss, tiers.high_expected_loss, tiers.medium_expected_loss, TIERS
            ),
            "expected_loss": expected_loss,
        }
    )


def suggest_action(reason_family: np.ndarray, scoring: Scoring) -> np.ndarray:
    """The configured action for each row's top reason family, else the default."""
    default = scoring.actions["default"]
    families = pd.Series(reason_family, dtype="object")
    return families.map(scoring.actions).fillna(default).to_numpy(dtype=object)
