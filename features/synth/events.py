"""Events of one chunk, drawn from the hidden state: sessions with the web journey, support
contacts, marketing email, payments and the cancellation itself.

Every generator returns a `Batch` of aligned arrays; `assemble` concatenates them, removes what
falls outside a customer's life (before signup, after the cancellation, after the world ends)
and sorts by time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synth.latent import Latent
from features.synth.population import Population
from features.synth.spec import DAY_US, EVENT_CODE, MINUTE_US, WorldSpec

SECOND_US = 1_000_000
# Share of sessions starting in each UTC hour: a morning peak, lunch, and a longer evening peak.
SESSION_HOURS = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 3.8, 3.5, 3.2, 3.6, 3.4, 3.0, 2.9, 3.0, 3.3,
     3.8, 4.5, 5.0, 4.6, 3.4, 2.0],
    dtype=np.float64,
)  # fmt: skip


@dataclass
class Batch:
    """Aligned event arrays; `customer` is the row in the chunk's population."""

    customer: np.ndarray
    ts: np.ndarray
    code: np.ndarray
    value: np.ndarray
    session: np.ndarray

    @staticmethod
    def of(
        customer: np.ndarray,
        ts: np.ndarray,
        event: str,
        value: np.ndarray | None = None,
        session: np.ndarray | None = None,
    ) -> Batch:
        """A batch of one event type; value NaN and session -1 mean absent."""
        n = len(customer)
        return Batch(
            customer.astype(np.int64),
            ts.astype(np.int64),
            np.full(n, EVENT_CODE[event], dtype=np.int8),
            np.full(n, np.nan) if value is None else value.astype(np.float64),
            np.full(n, -1, dtype=np.int64) if session is None else session.astype(np.int64),
        )


def _alive_days(pop: Population, latent: Latent, spec: WorldSpec) -> np.ndarray:
    """Boolean customers x days: the customer exists on that day (signup day to churn day)."""
    days = np.arange(spec.days)[None, :]
    return (days >= pop.signup_day[:, None]) & (days <= latent.churn_day[:, None])


def _saturation(dis: np.ndarray, scale: float) -> np.ndarray:
    """0 when content, towards 1 when very dissatisfied."""
    return 1.0 - np.exp(-np.maximum(dis, 0.0) / scale)


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarted for each consecutive group of `counts` items."""
    total = np.cumsum(values)
    before = np.concatenate([[0.0], total])[np.cumsum(counts) - counts]
    return total - np.repeat(before, counts)


def _daily_draws(rng: np.random.Generator, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(customer, day) of each event of a Poisson process with a customers x days rate."""
    counts = rng.poisson(rate)
    cust, day = np.nonzero(counts)
    reps = counts[cust, day]
    return np.repeat(cust, reps), np.repeat(day, reps)


def _session_starts(rng: np.random.Generator, day: np.ndarray, spec: WorldSpec) -> np.ndarray:
    """Start instants on the given days, following the hourly traffic profile."""
    m = len(day)
    hour = rng.choice(24, size=m, p=SESSION_HOURS / SESSION_HOURS.sum())
    start = spec.start_us + day * DAY_US + hour * 3600 * SECOND_US
    return start + (rng.random(m) * 3600 * SECOND_US).astype(np.int64)


def sessions(
    rng: np.random.Generator, pop: Population, latent: Latent, spec: WorldSpec, session_base: int
) -> tuple[list[Batch], int]:
    """Everyday sessions: a login, page views, now and then the FAQ and the cancel page."""
    dis = latent.dissatisfaction[:, : spec.days]
    weekday = np.asarray(spec.weekday_activity)[spec.weekday(np.arange(spec.days))]
    # Activity fades as dissatisfaction grows.
    rate = pop.engagement[:, None] * weekday[None, :] * np.exp(-spec.activity_damping * dis)
    cust, day = _daily_draws(rng, np.where(_alive_days(pop, latent, spec), rate, 0.0))
    m = len(cust)
    start = _session_starts(rng, day, spec)
    session = session_base + np.arange(m, dtype=np.int64)
    sat = _saturation(dis[cust, day], spec.journey_scale)

    batches = [Batch.of(cust, start, "login", session=session)]
    views = rng.poisson(pop.page_views[cust])
    gaps = (5 + rng.exponential(75.0, int(views.sum()))) * SECOND_US
    owner = np.repeat(np.arange(m), views)
    view_ts = start[owner] + _group_cumsum(gaps, views).astype(np.int64)
    batches.append(Batch.of(cust[owner], view_ts, "page_view", session=session[owner]))

    faq = rng.random(m) < spec.faq_base + spec.faq_dissatisfied * sat
    p_cancel = spec.cancel_after_faq_base + spec.cancel_after_faq_dissatisfied * sat
    batches += _faq_then_cancel(rng, cust, start, session, faq, p_cancel)
    solo = ~faq & (rng.random(m) < spec.cancel_without_faq * (1 + 5 * sat))
    solo_ts = start + ((10 + rng.exponential(200.0, m)) * SECOND_US).astype(np.int64)
    batches.append(Batch.of(cust[solo], solo_ts[solo], "cancel_page_view", session=session[solo]))
    return batches, m


def _faq_then_cancel(
    rng: np.random.Generator,
    cust: np.ndarray,
    start: np.ndarray,
    session: np.ndarray,
    faq: np.ndarray,
    p_cancel: np.ndarray,
) -> list[Batch]:
    """FAQ views in the flagged sessions; minutes later, sometimes the cancel page."""
    m = len(cust)
    faq_ts = start + ((10 + rng.exponential(120.0, m)) * SECOND_US).astype(np.int64)
    cancel = faq & (rng.random(m) < p_cancel)
    cancel_ts = faq_ts + ((60 + rng.exponential(180.0, m)) * SECOND_US).astype(np.int64)
    return [
        Batch.of(cust[faq], faq_ts[faq], "faq_view", session=session[faq]),
        Batch.of(cust[cancel], cancel_ts[cancel], "cancel_page_view", session=session[cancel]),
    ]


def journeys(
    rng: np.random.Generator, pop: Population, latent: Latent, spec: WorldSpec, session_base: int
) -> tuple[list[Batch], int]:
    """The planted journey: the dissatisfied come to read the FAQ, then visit the cancel page."""
    dis = latent.dissatisfaction[:, : spec.days]
    rate = spec.journey_sessions_per_day * _saturation(dis, spec.journey_scale)
    cust, day = _daily_draws(rng, np.where(_alive_days(pop, latent, spec), rate, 0.0))
    m = len(cust)
    start = _session_starts(rng, day, spec)
    session = session_base + np.arange(m, dtype=np.int64)
    sat = _saturation(dis[cust, day], spec.journey_scale)
    p_cancel = spec.journey_cancel_base + spec.journey_cancel_dissatisfied * sat
    # No login: the help pages are public, and fading logins are a signal of their own.
    return _faq_then_cancel(rng, cust, start, session, np.ones(m, dtype=bool), p_cancel), m


def support(
    rng: np.random.Generator, pop: Population, latent: Latent, spec: WorldSpec
) -> list[Batch]:
    """Support calls and chats: a low base rate plus a spike while dissatisfaction builds."""
    dis = latent.dissatisfaction[:, : spec.days]
    weekday = np.asarray(spec.weekday_support)[spec.weekday(np.arange(spec.days))]
    rate = (pop.support_base[:, None] + spec.support_dissatisfied * dis) * weekday[None, :]
    rate = np.where(_alive_days(pop, latent, spec), rate, 0.0)
    cust, day = _daily_draws(rng, rate)
    m = len(cust)
    # Desk hours 08:00-20:00 UTC.
    ts = (
        spec.start_us
        + day * DAY_US
        + ((8 + 12 * rng.random(m)) * 3600 * SECOND_US).astype(np.int64)
    )
    chat = rng.random(m) < pop.chat_preference[cust]
    minutes = rng.lognormal(np.where(chat, np.log(12.0), np.log(8.0)), 0.6)
    minutes = np.round(minutes, 1)
    return [
        Batch.of(cust[~chat], ts[~chat], "support_call", value=minutes[~chat]),
        Batch.of(cust[chat], ts[chat], "support_chat", value=minutes[chat]),
    ]


def campaign_days(rng: np.random.Generator, spec: WorldSpec) -> np.ndarray:
    """World days with a marketing campaign: most Tuesdays, some Fridays (same for everyone)."""
    days = np.arange(spec.days)
    weekday = spec.weekday(days)
    draw = rng.random(spec.days)
    chosen = ((weekday == 1) & (draw < spec.campaign_tuesday)) | (
        (weekday == 4) & (draw < spec.campaign_friday)
    )
    return days[chosen]


def email(
    rng: np.random.Generator,
    pop: Population,
    latent: Latent,
    spec: WorldSpec,
    campaigns: np.ndarray,
) -> list[Batch]:
    """Sends to opted-in living customers; opens fade with dissatisfaction; some clicks."""
    n = len(pop)
    cust = np.repeat(np.arange(n), len(campaigns))
    day = np.tile(campaigns, n)
    # The sending platform works through the list between 09:00 and 10:00 UTC.
    sent = spec.start_us + day * DAY_US + 9 * 3600 * SECOND_US
    sent += (rng.random(len(cust)) * 3600 * SECOND_US).astype(np.int64)
    keep = pop.opted_in[cust] & (sent > pop.signup_us[cust]) & (sent < latent.churn_us[cust])
    cust, day, sent = cust[keep], day[keep], sent[keep]
    m = len(cust)
    dis = latent.dissatisfaction[cust, day]
    p_open = 1.0 / (1.0 + np.exp(-(pop.open_logit[cust] - spec.open_damping * dis)))
    opened = rng.random(m) < p_open
    delay = np.minimum(rng.lognormal(np.log(2.5 * 3600), 1.3, m), 10 * 86400)
    open_ts = sent + ((30 + delay) * SECOND_US).astype(np.int64)
    clicked = opened & (rng.random(m) < spec.click_given_open * np.exp(-0.5 * dis))
    click_ts = open_ts + ((5 + rng.exponential(60.0, m)) * SECOND_US).astype(np.int64)
    return [
        Batch.of(cust, sent, "email_sent"),
        Batch.of(cust[opened], open_ts[opened], "email_open"),
        Batch.of(cust[clicked], click_ts[clicked], "email_click"),
    ]


def payments(pop: Population, spec: WorldSpec) -> list[Batch]:
    """Monthly payments of the plan price on the signup anniversary (clipped to month end)."""
    n = len(pop)
    months = int(np.ceil(spec.days / 28)) + 1
    signup = pop.signup_us.astype("datetime64[us]")
    signup_day = signup.astype("datetime64[D]")
    month0 = signup_day.astype("datetime64[M]")
    day_of_month = (signup_day - month0.astype("datetime64[D]")).astype(np.int64)
    time_of_day = (signup - signup_day.astype("datetime64[us]")).astype(np.int64)
    k = np.arange(months)
    month = month0[:, None] + k[None, :]
    first = month.astype("datetime64[D]")
    length = ((month + 1).astype("datetime64[D]") - first).astype(np.int64)
    pay_day = first + np.minimum(day_of_month[:, None], length - 1)
    ts = pay_day.astype("datetime64[us]").astype(np.int64) + time_of_day[:, None] + MINUTE_US
    cust = np.repeat(np.arange(n), months)
    ts = ts.ravel()
    return [Batch.of(cust, ts, "payment", value=pop.price[cust])]


def cancellations(
    rng: np.random.Generator, pop: Population, latent: Latent, spec: WorldSpec, session_base: int
) -> tuple[list[Batch], int]:
    """The last session of a churner: login, the cancel page, then the cancellation."""
    cust = np.flatnonzero(latent.churn_us < spec.end_us)
    m = len(cust)
    at = latent.churn_us[cust]
    session = session_base + np.arange(m, dtype=np.int64)
    login = at - ((2 + 8 * rng.random(m)) * MINUTE_US).astype(np.int64)
    page = at - ((0.3 + 1.5 * rng.random(m)) * MINUTE_US).astype(np.int64)
    return [
        Batch.of(cust, login, "login", session=session),
        Batch.of(cust, page, "cancel_page_view", session=session),
        Batch.of(cust, at, "subscription_cancelled", session=session),
    ], m


def assemble(batches: list[Batch], pop: Population, latent: Latent, spec: WorldSpec) -> Batch:
    """Concatenate, keep what happens within each customer's life, sort by time."""
    joined = Batch(
        *(np.concatenate([getattr(b, f) for b in batches]) for f in Batch.__dataclass_fields__)
    )
    cancel = joined.code == EVENT_CODE["subscription_cancelled"]
    churn = latent.churn_us[joined.customer]
    keep = (
        (joined.ts >= pop.signup_us[joined.customer])
        & (joined.ts < spec.end_us)
        & ((joined.ts < churn) | (cancel & (joined.ts == churn)))
    )
    order = np.lexsort((joined.code[keep], joined.customer[keep], joined.ts[keep]))
    return Batch(*(getattr(joined, f)[keep][order] for f in Batch.__dataclass_fields__))


def simulate_events(
    rng: np.random.Generator,
    pop: Population,
    latent: Latent,
    spec: WorldSpec,
    campaigns: np.ndarray,
    session_base: int,
) -> Batch:
    """Every event of the customers' lives, assembled; sessions numbered from `session_base`."""
    batches, n_sessions = sessions(rng, pop, latent, spec, session_base)
    visits, n_journeys = journeys(rng, pop, latent, spec, session_base + n_sessions)
    closing, _ = cancellations(rng, pop, latent, spec, session_base + n_sessions + n_journeys)
    batches += visits
    batches += support(rng, pop, latent, spec)
    batches += email(rng, pop, latent, spec, campaigns)
    batches += payments(pop, spec)
    return assemble(batches + closing, pop, latent, spec)
