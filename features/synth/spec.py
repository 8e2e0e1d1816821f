"""The fixed calendar and the knobs of the synthetic world.

The calendar never depends on today's date, so a seed gives the same world on any day. The rates
are tuned so that a customer leaves ~50-100 events over the world and ~3-8% of active customers
churn per month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_US = 86_400_000_000
MINUTE_US = 60_000_000

EVENT_NAMES = (
    "login",
    "page_view",
    "faq_view",
    "cancel_page_view",
    "support_call",
    "support_chat",
    "email_sent",
    "email_open",
    "email_click",
    "payment",
    "subscription_cancelled",
)
EVENT_CODE = {name: code for code, name in enumerate(EVENT_NAMES)}

MECHANISMS = ("none", "dissatisfaction", "price", "traceless")


@dataclass(frozen=True)
class WorldSpec:
    """Calendar, population mix and rates. Frozen: one spec describes one reproducible world."""

    start: str = "2025-01-01"
    end: str = "2026-07-01"  # exclusive: every event is strictly before this instant (UTC)
    chunk_size: int = 25_000
    # The hazard is simulated this far past `end` so the truth answers horizons from the last day.
    truth_pad_days: int = 91
    truth_step_days: int = 7

    plans: tuple[str, ...] = ("basic", "standard", "premium")
    plan_prices: tuple[float, ...] = (9.99, 19.99, 34.99)
    plan_shares: tuple[float, ...] = (0.5, 0.35, 0.15)
    plan_engagement: tuple[float, ...] = (0.9, 1.0, 1.2)
    countries: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA", "NL", "ES", "AU")
    country_shares: tuple[float, ...] = (0.4, 0.15, 0.12, 0.1, 0.08, 0.05, 0.05, 0.05)
    # Signups grow linearly: the density at the end of the world is this many times the start.
    signup_growth: float = 1.8

    # Activity: sessions per day (gamma across customers), weekday factors Mon..Sun.
    sessions_per_day: float = 0.085
    engagement_shape: float = 1.5
    weekday_activity: tuple[float, ...] = (1.05, 1.0, 1.0, 1.0, 1.05, 0.95, 0.95)
    page_views_per_session: float = 1.3
    # Dissatisfaction dampens activity: rate * exp(-activity_damping * D).
    activity_damping: float = 1.2
    faq_base: float = 0.03
    faq_dissatisfied: float = 0.15
    cancel_after_faq_base: float = 0.04
    cancel_after_faq_dissatisfied: float = 0.4
    cancel_without_faq: float = 0.004
    # Extra visits of the dissatisfied, straight to the FAQ and often on to the cancel page.
    journey_sessions_per_day: float = 0.2
    journey_cancel_base: float = 0.3
    journey_cancel_dissatisfied: float = 0.6
    # D at which the journey probabilities are 63% of their dissatisfied maximum.
    journey_scale: float = 0.8

    # Support contacts per day: customer base rate + dissatisfaction spike; weekends quieter.
    support_base: float = 0.003
    support_dissatisfied: float = 0.2
    weekday_support: tuple[float, ...] = (1.15, 1.1, 1.1, 1.1, 1.05, 0.3, 0.2)

    # Marketing email: a campaign most Tuesdays, sometimes a Friday promo.
    campaign_tuesday: float = 0.85
    campaign_friday: float = 0.15
    opted_in_share: float = 0.92
    open_logit_mean: float = -0.4
    open_logit_sd: float = 1.0
    open_damping: float = 2.0
    click_given_open: float = 0.2

    # Latent dissatisfaction: shocks (a bad experience) that build up over ~9 days and fade over
    # ~5 weeks, on top of a small chronic level.
    shocks_per_day: float = 1 / 120
    shock_rate_shape: float = 0.8
    shock_size_shape: float = 2.0
    shock_kernel_decay: float = 0.9
    chronic_shape: float = 0.5
    chronic_scale: float = 0.12

    # Hazard on day d uses the mean dissatisfaction over [d - lag_far, d - lag_near]: the decision
    # is made weeks before the cancel button, so the risk of the next month is visible today.
    lag_near: int = 21
    lag_far: int = 42
    dissatisfaction_hazard: float = 0.008
    price_hazard: float = 0.0004  # per day at the mean sensitivity for a 19.99 plan
    price_reference: float = 19.99
    # Sensitivity varies little between customers (Beta(80, 240), mean 0.25): a strong hidden
    # trait that leaves no trace in any event would hand the ground truth knowledge no model can
    # have. The unexplainable part of churn is the traceless hazard, on purpose and measured.
    price_sensitivity_a: float = 80.0
    price_sensitivity_b: float = 240.0
    traceless_hazard: float = 0.00025  # ~0.75% a month, unrelated to any signal

    @property
    def start_us(self) -> int:
        """World start in microseconds since the epoch (UTC)."""
        return int(pd.Timestamp(self.start, tz="UTC").value // 1000)

    @property
    def end_us(self) -> int:
        """World end (exclusive) in microseconds since the epoch (UTC)."""
        return int(pd.Timestamp(self.end, tz="UTC").value // 1000)

    @property
    def days(self) -> int:
        """Days with events."""
        return (self.end_us - self.start_us) // DAY_US

    @property
    def sim_days(self) -> int:
        """Days with a simulated hazard (events plus the truth padding)."""
        return self.days + self.truth_pad_days

    def weekday(self, days: np.ndarray) -> np.ndarray:
        """Monday=0 weekday of world day indices."""
        first = pd.Timestamp(self.start, tz="UTC").weekday()
        return (first + days) % 7
