"""The hidden state: dissatisfaction over time, the daily churn hazard, and who churns when.

The hazard is piecewise constant per day, so the cumulative hazard H is exact at day boundaries
and linear within a day: P(churn in [a, b) | alive at a) = 1 - exp(-(H(b) - H(a))).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.signal import lfilter

from features.synth.population import Population
from features.synth.spec import DAY_US, WorldSpec


@dataclass
class Latent:
    """Per-customer daily paths on the simulation grid (customers x sim_days)."""

    dissatisfaction: np.ndarray  # float32
    cumulative_hazard: np.ndarray  # float64, H at the start of each day plus the final end
    churn_us: np.ndarray  # int64, churn instant; max int64 when no churn within the grid
    churn_day: np.ndarray  # int64 day index of churn; sim_days when none
    mechanism: np.ndarray  # int8 index into spec.MECHANISMS (0 = none)

    def take(self, rows: np.ndarray) -> Latent:
        """The paths of the customers at `rows` (positions in the chunk)."""
        return Latent(*(getattr(self, f.name)[rows] for f in fields(self)))


def dissatisfaction(rng: np.random.Generator, pop: Population, spec: WorldSpec) -> np.ndarray:
    """Chronic level plus shocks that build up over ~9 days and fade over ~5 weeks."""
    n, days = len(pop), spec.sim_days
    span = days - pop.signup_day
    counts = rng.poisson(pop.shock_rate * span)
    owner = np.repeat(np.arange(n), counts)
    day = pop.signup_day[owner] + (rng.random(len(owner)) * span[owner]).astype(np.int64)
    size = rng.gamma(spec.shock_size_shape, 1.0 / spec.shock_size_shape, len(owner))
    shocks = np.bincount(owner * days + day, weights=size, minlength=n * days).reshape(n, days)
    # Impulse response (u + 1) a^u: a gamma-shaped bump, scaled to peak at the shock size.
    a = spec.shock_kernel_decay
    peak_u = max(0.0, -1.0 / np.log(a) - 1.0)
    peak = max(
        (np.floor(peak_u) + 1) * a ** np.floor(peak_u), (np.ceil(peak_u) + 1) * a ** np.ceil(peak_u)
    )
    bumps = lfilter([1.0 / peak], [1.0, -2.0 * a, a * a], shocks, axis=1)
    return (bumps + pop.chronic[:, None]).astype(np.float32)


def lagged_mean(values: np.ndarray, near: int, far: int, before: np.ndarray) -> np.ndarray:
    """Mean of each row over days [d - far, d - near]; days before the grid take `before`."""
    n, days = values.shape
    padded = np.empty((n, days + far), dtype=np.float64)
    padded[:, :far] = before[:, None]
    padded[:, far:] = values
    cum = np.zeros((n, days + far + 1), dtype=np.float64)
    np.cumsum(padded, axis=1, out=cum[:, 1:])
    # Window in padded coordinates: [d, d + far - near] inclusive.
    window = far - near + 1
    return (cum[:, window : window + days] - cum[:, :days]) / window


def hazard_components(
    dis: np.ndarray, pop: Population, spec: WorldSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily hazards (dissatisfaction, price, traceless); zero up to the signup day."""
    lagged = lagged_mean(dis, spec.lag_near, spec.lag_far, pop.chronic)
    alive = np.arange(spec.sim_days)[None, :] > pop.signup_day[:, None]
    h_dis = np.where(alive, spec.dissatisfaction_hazard * lagged**2, 0.0)
    mean_sensitivity = spec.price_sensitivity_a / (
        spec.price_sensitivity_a + spec.price_sensitivity_b
    )
    price_rate = (
        spec.price_hazard
        * (pop.price_sensitivity / mean_sensitivity)
        * (pop.price / spec.price_reference) ** 1.5
    )
    h_price = np.where(alive, price_rate[:, None], 0.0)
    h_trace = np.where(alive, spec.traceless_hazard, 0.0)
    return h_dis, h_price, h_trace


def simulate_latent(rng: np.random.Generator, pop: Population, spec: WorldSpec) -> Latent:
    """Dissatisfaction, hazard, churn time (exact under a daily-constant hazard) and mechanism."""
    dis = dissatisfaction(rng, pop, spec)
    parts = hazard_components(dis, pop, spec)
    hazard = parts[0] + parts[1] + parts[2]
    n, days = hazard.shape
    cum = np.zeros((n, days + 1), dtype=np.float64)
    np.cumsum(hazard, axis=1, out=cum[:, 1:])
    day, churn_us, mechanism = _churn(rng, parts, hazard, cum, pop.churn_threshold, spec)
    return Latent(dis, cum, churn_us, day, mechanism)


def _churn(
    rng: np.random.Generator,
    parts: tuple[np.ndarray, ...],
    hazard: np.ndarray,
    cum: np.ndarray,
    threshold: np.ndarray,
    spec: WorldSpec,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Churn day, instant and mechanism: where the cumulative hazard first crosses the
    threshold (one uniform draw per churner, in row order, picks the mechanism)."""
    n, days = hazard.shape
    crossed = cum[:, 1:] > threshold[:, None]
    churned = crossed.any(axis=1)
    day = np.where(churned, crossed.argmax(axis=1), days)
    rows = np.flatnonzero(churned)
    d = day[rows]
    frac = (threshold[rows] - cum[rows, d]) / hazard[rows, d]
    churn_us = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    churn_us[rows] = spec.start_us + ((d + np.clip(frac, 0.0, 1.0 - 1e-9)) * DAY_US).astype(
        np.int64
    )
    # Competing risks: the mechanism is drawn in proportion to each hazard on the churn day.
    stacked = np.stack([part[rows, d] for part in parts], axis=1)
    draw = rng.random(len(rows)) * stacked.sum(axis=1)
    mechanism = np.zeros(n, dtype=np.int8)
    mechanism[rows] = 1 + (draw[:, None] >= np.cumsum(stacked, axis=1)).sum(axis=1).clip(0, 2)
    return day, churn_us, mechanism


def treat_latent(
    rng: np.random.Generator,
    pop: Population,
    latent: Latent,
    spec: WorldSpec,
    day: int,
    multiplier: np.ndarray,
) -> Latent:
    """The same customers with each one's daily hazard multiplied by `multiplier` from world day
    `day` on: the cumulative hazard up to that day, and so any churn before it, is unchanged.
    A customer whose churn moves gets a new mechanism drawn from `rng` (never the world's own
    stream, so nothing else the world drew changes)."""
    rows = np.flatnonzero(multiplier != 1.0)
    if not len(rows):
        return latent
    treated = pop.take(rows)
    parts = hazard_components(latent.dissatisfaction[rows], treated, spec)
    for part in parts:
        part[:, day:] *= multiplier[rows, None]
    hazard = parts[0] + parts[1] + parts[2]
    cum = latent.cumulative_hazard[rows]  # a copy (fancy indexing)
    cum[:, day + 1 :] = cum[:, day, None] + np.cumsum(hazard[:, day:], axis=1)
    churn_day, churn_us, mechanism = _churn(rng, parts, hazard, cum, treated.churn_threshold, spec)
    moved = churn_us != latent.churn_us[rows]
    result = Latent(
        latent.dissatisfaction,
        latent.cumulative_hazard.copy(),
        latent.churn_us.copy(),
        latent.churn_day.copy(),
        latent.mechanism.copy(),
    )
    result.cumulative_hazard[rows] = cum
    result.churn_us[rows] = churn_us
    result.churn_day[rows] = churn_day
    result.mechanism[rows[moved]] = mechanism[moved]
    return result
