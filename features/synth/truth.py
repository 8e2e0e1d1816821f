"""Ground truth beside the data (`OUT/truth/`): who churned, why, and the true churn risk.

`truth/customers.parquet` holds each customer's mechanism, churn instant and hidden traits.
`truth/hazard/part-*.parquet` holds the cumulative churn hazard H every `truth_step_days` days
(float32, one column per boundary named by its date), so for any cutoff c and horizon h the true
probability is 1 - exp(-(H(c+h) - H(c))). The daily hazard is a smooth function of a 4-week mean
of the latent state, so H is nearly linear between weekly boundaries and interpolating it costs
almost nothing in accuracy while keeping 1M customers under ~400 MB.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import UTC_TIMESTAMP, as_utc
from features.errors import DataContractError
from features.synth.latent import Latent
from features.synth.population import Population
from features.synth.spec import DAY_US, MECHANISMS, WorldSpec

log = logging.getLogger(__name__)


def boundary_days(spec: WorldSpec) -> np.ndarray:
    """World-day indices where the cumulative hazard is stored."""
    return np.arange(0, spec.sim_days + 1, spec.truth_step_days)


def hazard_table(ids: pa.Array, latent: Latent, spec: WorldSpec) -> pa.Table:
    """Cumulative hazard at each boundary, one float32 column per boundary date."""
    days = boundary_days(spec)
    start = pd.Timestamp(spec.start, tz="UTC")
    columns: dict[str, pa.Array] = {"customer_id": ids}
    for day in days:
        name = (start + pd.Timedelta(days=int(day))).strftime("%Y-%m-%d")
        columns[name] = pa.array(latent.cumulative_hazard[:, day].astype(np.float32))
    return pa.table(columns)


def customer_truth(ids: pa.Array, pop: Population, latent: Latent, spec: WorldSpec) -> pa.Table:
    """Mechanism, churn instant (null when no churn in the world) and hidden traits."""
    churned = latent.churn_us < spec.end_us
    mechanism = np.where(churned, latent.mechanism, 0)
    return pa.table(
        {
            "customer_id": ids,
            "signup_at": pa.array(pop.signup_us, UTC_TIMESTAMP),
            "churned_at": pa.array(latent.churn_us, UTC_TIMESTAMP, mask=~churned),
            "mechanism": pa.array(np.asarray(MECHANISMS, dtype=object)[mechanism], pa.string()),
            "plan_price": pa.array(pop.price, pa.float64()),
            "price_sensitivity": pa.array(pop.price_sensitivity, pa.float64()),
            "engagement": pa.array(pop.engagement, pa.float64()),
            "shock_rate": pa.array(pop.shock_rate, pa.float64()),
            "chronic_dissatisfaction": pa.array(pop.chronic, pa.float64()),
            "open_propensity": pa.array(1.0 / (1.0 + np.exp(-pop.open_logit)), pa.float64()),
        }
    )


class _HazardColumns:
    """Reads boundary columns of the hazard parts on demand: a query touches only a few."""

    def __init__(self, truth: Path, customer_ids: np.ndarray):
        self.parts = sorted((truth / "hazard").glob("part-*.parquet"))
        if not self.parts:
            raise DataContractError([f"truth: no hazard parts in {truth / 'hazard'}"])
        self.names = [n for n in pq.read_schema(self.parts[0]).names if n != "customer_id"]
        self.bounds = np.array(
            [pd.Timestamp(n, tz="UTC").value // 1000 for n in self.names], dtype=np.int64
        )
        ids = self._column("customer_id")
        if len(ids) != len(customer_ids) or not np.array_equal(ids, customer_ids):
            raise DataContractError(
                [f"truth: hazard parts in {truth} do not match truth/customers.parquet; rewrite it"]
            )
        self.cache: dict[int, np.ndarray] = {}

    def _column(self, name: str) -> np.ndarray:
        return np.concatenate(
            [pq.read_table(p, columns=[name]).column(0).to_numpy() for p in self.parts]
        )

    def boundary(self, index: int) -> np.ndarray:
        """Cumulative hazard of every customer at boundary `index`."""
        if index not in self.cache:
            self.cache[index] = self._column(self.names[index]).astype(np.float64)
        return self.cache[index]

    def at(self, instant_us: int) -> np.ndarray:
        """Cumulative hazard of every customer at an instant (linear between boundaries)."""
        bounds = self.bounds
        position = (instant_us - bounds[0]) / (bounds[1] - bounds[0])
        position = float(np.clip(position, 0, len(bounds) - 1))
        left = min(int(np.floor(position)), len(bounds) - 2)
        weight = position - left
        return self.boundary(left) * (1 - weight) + self.boundary(left + 1) * weight


def _read_customers(truth: Path) -> pd.DataFrame:
    """Signup and churn instants from the truth, or a clear error when there is none."""
    if not (truth / "customers.parquet").is_file():
        raise DataContractError(
            [
                f"truth: no ground truth in {truth}; "
                "write the world with `churn data synth` (truth on)"
            ]
        )
    return pq.read_table(
        truth / "customers.parquet", columns=["customer_id", "signup_at", "churned_at"]
    ).to_pandas()


def true_churn_probability(
    data_dir: Path | str, cutoffs: list[pd.Timestamp], horizon_days: int
) -> pd.DataFrame:
    """True P(churn in [cutoff, cutoff + horizon) | alive at cutoff) for each living customer.

    Alive = signed up before the cutoff and not churned before it. Columns: customer_id,
    cutoff (datetime64[us, UTC]), true_probability (float64 in [0, 1]).
    """
    truth = Path(data_dir) / "truth"
    customers = _read_customers(truth)
    hazard = _HazardColumns(truth, customers["customer_id"].to_numpy())
    signup = customers["signup_at"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    churned = customers["churned_at"]
    churn = np.where(
        churned.isna().to_numpy(),
        np.iinfo(np.int64).max,
        churned.fillna(pd.Timestamp(0, tz="UTC")).to_numpy(dtype="datetime64[us]").astype(np.int64),
    )
    frames = []
    for cutoff in cutoffs:
        cutoff = as_utc(cutoff)
        c_us = cutoff.value // 1000
        e_us = c_us + horizon_days * DAY_US
        if e_us > hazard.bounds[-1]:
            end = pd.Timestamp(hazard.bounds[-1], unit="us", tz="UTC")
            log.warning("truth ends at %s; the horizon after it is clipped", end)
        alive = (signup < c_us) & (churn >= c_us)
        gained = hazard.at(e_us) - hazard.at(c_us)
        probability = 1.0 - np.exp(-np.maximum(gained[alive], 0.0))
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": customers["customer_id"].to_numpy()[alive],
                    "cutoff": pd.Series([cutoff] * int(alive.sum()), dtype="datetime64[us, UTC]"),
                    "true_probability": probability.astype(np.float64),
                }
            )
        )
    columns = {"customer_id": "str", "cutoff": "datetime64[us, UTC]", "true_probability": "float64"}
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.concat(frames, ignore_index=True).astype(columns)
