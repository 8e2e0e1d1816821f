"""A customer's value: where it comes from (`scoring.value`) and its number per row.

Tiers and actions follow from value and risk in `models.decisions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.config import Config, ValueSpec
from features.errors import ConfigError
from models.value import ExpectedValue

if TYPE_CHECKING:
    from models.bundle import ModelBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscriptionValue:
    """Scoring's value source for `scoring.value.source: subscription`: what a customer is worth
    if kept, the price per period times the periods they are expected to stay out of the next
    `periods`: price x sum_k (1 - p)^k, with p the churn per period of a typical customer (the
    model's mean probability on its reference rows, `retained_churn`). Not the customer's own
    risk: the decisions multiply by it already, and a value shrunk by it would count the risk
    twice, sending the riskiest subscribers an email. Models trained before the mean was stored
    fall back to each customer's own probability."""

    price_column: str
    periods: int
    retained_churn: float | None = None

    def __call__(self, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
        price = np.nan_to_num(pd.to_numeric(frame[self.price_column], errors="coerce"), nan=0.0)
        churn = (
            np.asarray(probability, dtype=np.float64)
            if self.retained_churn is None
            else np.full(len(frame), self.retained_churn)
        )
        stay = 1.0 - np.clip(churn, 0.0, 1.0)
        periods = np.arange(1, self.periods + 1)
        return np.asarray(price, dtype=np.float64) * (stay[:, None] ** periods).sum(axis=1)


# Where each customer's value comes from, as check_value_source resolves it.
ValueSource = str | ExpectedValue | SubscriptionValue | None


def value_column(spec: ValueSpec) -> str:
    """The matrix column that holds each customer's value (or its price, for subscriptions)."""
    if spec.source == "column":
        return str(spec.column)
    if spec.source == "subscription":
        return str(spec.price_column)
    return f"revenue_{spec.revenue_days}d"


def check_value_source(
    columns: list[str], cfg: Config, bundle: ModelBundle | None = None
) -> ValueSource:
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
    if column in columns and cfg.scoring.value.source == "subscription":
        typical = (bundle.reference.get("score") or {}).get("mean") if bundle else None
        return SubscriptionValue(column, cfg.scoring.value.periods, typical)
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


def customer_value(
    frame: pd.DataFrame, column: ValueSource, probability: np.ndarray | None = None
) -> np.ndarray:
    """Value per row: the value model's expected revenue, a subscription's expected remaining
    revenue (from each row's churn `probability`), or a column's (missing counts as 0: no
    revenue is no value at risk)."""
    if isinstance(column, ExpectedValue):
        return column(frame)
    if isinstance(column, SubscriptionValue):
        return column(frame, probability)
    if column is None:
        return np.zeros(len(frame))
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    return np.nan_to_num(values, nan=0.0)
