"""Customers of one chunk: public profile (signup, plan, country) and hidden traits."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from features.synth.spec import DAY_US, WorldSpec


@dataclass
class Population:
    """One chunk of customers as aligned arrays; hidden traits never reach the events table."""

    index: np.ndarray  # global customer number, int64
    signup_us: np.ndarray
    signup_day: np.ndarray
    plan: np.ndarray  # index into spec.plans
    price: np.ndarray
    country: np.ndarray  # index into spec.countries
    engagement: np.ndarray  # sessions per day when content
    page_views: np.ndarray  # mean page views per session
    open_logit: np.ndarray
    opted_in: np.ndarray
    support_base: np.ndarray
    chat_preference: np.ndarray
    shock_rate: np.ndarray
    chronic: np.ndarray
    price_sensitivity: np.ndarray
    churn_threshold: np.ndarray  # Exp(1): churn when the cumulative hazard crosses it

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows: np.ndarray) -> Population:
        """The customers at `rows` (positions in this chunk), as a population of their own."""
        return Population(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


def customer_ids(index: np.ndarray, total: int) -> np.ndarray:
    """Ids like C0000001 (1-based), zero-padded wide enough for the whole world."""
    width = max(7, len(str(total)))
    return np.char.add("C", np.char.zfill((index + 1).astype(str), width)).astype(object)


def _signup_fraction(rng: np.random.Generator, n: int, growth: float) -> np.ndarray:
    """Fractions of the world in [0, 1) with density rising linearly from 1 to `growth`."""
    u = rng.random(n)
    if abs(growth - 1.0) < 1e-9:
        return u
    # Inverse CDF of f(x) = (1 + (g-1)x) / ((1+g)/2).
    g = growth - 1.0
    norm = 1.0 + g / 2.0
    return (-1.0 + np.sqrt(1.0 + 2.0 * g * norm * u)) / g


def draw_population(rng: np.random.Generator, first: int, n: int, spec: WorldSpec) -> Population:
    """Draw `n` customers numbered from `first`."""
    frac = _signup_fraction(rng, n, spec.signup_growth)
    # Whole seconds: a believable CRM timestamp.
    signup_us = (
        spec.start_us + (frac * spec.days * DAY_US // 1_000_000).astype(np.int64) * 1_000_000
    )
    plan = rng.choice(len(spec.plans), size=n, p=np.asarray(spec.plan_shares))
    country = rng.choice(len(spec.countries), size=n, p=np.asarray(spec.country_shares))
    engagement = (
        rng.gamma(spec.engagement_shape, spec.sessions_per_day / spec.engagement_shape, n)
        * np.asarray(spec.plan_engagement)[plan]
    )
    shock_scale = spec.shocks_per_day / spec.shock_rate_shape
    return Population(
        index=np.arange(first, first + n, dtype=np.int64),
        signup_us=signup_us,
        signup_day=((signup_us - spec.start_us) // DAY_US).astype(np.int64),
        plan=plan,
        price=np.asarray(spec.plan_prices)[plan],
        country=country,
        engagement=engagement,
        page_views=rng.gamma(2.0, spec.page_views_per_session / 2.0, n),
        open_logit=rng.normal(spec.open_logit_mean, spec.open_logit_sd, n),
        opted_in=rng.random(n) < spec.opted_in_share,
        support_base=rng.gamma(1.0, spec.support_base, n),
        chat_preference=rng.beta(2.0, 2.0, n),
        shock_rate=rng.gamma(spec.shock_rate_shape, shock_scale, n),
        chronic=rng.gamma(spec.chronic_shape, spec.chronic_scale, n),
        price_sensitivity=rng.beta(spec.price_sensitivity_a, spec.price_sensitivity_b, n),
        churn_threshold=rng.exponential(1.0, n),
    )
