"""Feed health and freshness: is tonight's data whole enough to score?

A nightly job must not score a world whose feed broke: a signal that stopped (no email events
for two months), fell, started sending empty values, or changed the scale of its amounts.
Such breaks look like churn signals to a model, so they fail the job and name the signal,
instead of passing as "drift". Each mapped signal's recent window is compared with the window
before it in the same data, so no reference has to be stored and a steady world never fails.

One scan of the events gives per (event name, day) counts; the checks are pure functions of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from features.config import Config, FeedSettings
from features.contract import as_utc
from features.dataset import Dataset
from features.errors import DataContractError, FeedError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """The recent window and the baseline window just before it, as half-open day ranges."""

    baseline_start: pd.Timestamp
    previous_start: pd.Timestamp  # the recent window's length before it
    recent_start: pd.Timestamp
    end: pd.Timestamp  # as_of, exclusive

    @classmethod
    def before(cls, as_of: pd.Timestamp, feed: FeedSettings) -> Windows:
        end = as_utc(as_of).floor("D")
        recent = end - pd.Timedelta(days=feed.recent_days)
        previous = recent - pd.Timedelta(days=feed.recent_days)
        return cls(recent - pd.Timedelta(days=feed.baseline_days), previous, recent, end)


def last_event_before(dataset: Dataset, as_of: pd.Timestamp) -> pd.Timestamp | None:
    """The latest event strictly before `as_of`, or None."""
    events = dataset.events
    latest = events.filter(events.ts < as_of.to_pydatetime()).ts.max().to_pyarrow().as_py()
    return None if latest is None else as_utc(latest)


def check_freshness(last_event: pd.Timestamp | None, as_of: pd.Timestamp, lateness_days: int):
    """Fail unless the events reach the day before `as_of` (less the allowed lateness)."""
    day = as_utc(as_of).floor("D")
    if last_event is None:
        raise DataContractError(
            [
                f"scoring: no customer is active at {day:%Y-%m-%d}: no event comes before it; "
                "pick an --as-of inside the data"
            ]
        )
    needed = day - pd.Timedelta(days=1 + lateness_days)
    if last_event < needed:
        raise FeedError(
            f"freshness: events end at {last_event:%Y-%m-%d %H:%M} UTC, but scoring "
            f"{day:%Y-%m-%d} needs events up to {needed:%Y-%m-%d}: the feed is late or --as-of "
            "is wrong (feed.lateness_days allows late feeds)"
        )


def daily_volumes(dataset: Dataset, windows: Windows) -> pd.DataFrame:
    """Per event name and day in the two windows: events, values present, value sum, events
    without a session (one scan of the events)."""
    events = dataset.events
    recent = events.filter(
        (events.ts >= windows.baseline_start.to_pydatetime())
        & (events.ts < windows.end.to_pydatetime())
    )
    day = recent.ts.truncate("D").name("day")
    metrics = {"events": recent.count()}
    if "value" in events.columns:
        metrics["values"] = recent.value.count()
        metrics["value_sum"] = recent.value.sum()
    if "session_id" in events.columns:
        metrics["no_session"] = recent.session_id.isnull().sum()
    frame = recent.group_by([recent.event, day]).aggregate(**metrics).to_pandas()
    frame["day"] = pd.to_datetime(frame["day"], utc=True)
    return frame


@dataclass(frozen=True)
class SignalHealth:
    signal: str
    recent_per_day: float
    baseline_per_day: float
    last_day: pd.Timestamp | None
    problems: tuple[str, ...]


def signal_health(
    volumes: pd.DataFrame, signal: str, names: list[str], windows: Windows, feed: FeedSettings
) -> SignalHealth | None:
    """The checks of one mapped signal; None when its baseline has too few events to judge.

    Two comparisons, so that a base that thins out slowly (an acquisition burst fading over a
    quarter) is not a broken feed: the last `recent_days` against the same number of days just
    before them and against the baseline's daily rate (a sudden fall beyond `max_drop` against
    both, so a bursty signal's quiet fortnight is not one), and against the whole baseline (a
    feed that stopped: a fall beyond `max_stop`, however long ago it happened)."""
    rows = volumes[volumes["event"].isin(names)]
    recent = rows[rows["day"] >= windows.recent_start]
    baseline = rows[rows["day"] < windows.recent_start]
    previous = baseline[baseline["day"] >= windows.previous_start]
    baseline_rate = baseline["events"].sum() / feed.baseline_days
    previous_rate = previous["events"].sum() / feed.recent_days
    if baseline_rate * feed.recent_days < feed.min_expected_events:
        return None
    recent_rate = recent["events"].sum() / feed.recent_days
    last_day = rows.loc[rows["events"] > 0, "day"].max() if len(rows) else None
    since = f"; last event on {last_day:%Y-%m-%d}" if pd.notna(last_day) else ""
    problems = []
    judged_fall = previous_rate * feed.recent_days >= feed.min_expected_events
    # A fall counts against the whole baseline too: a bursty signal (campaign sends) has weeks
    # that fall by half against the weeks before while staying ordinary for the quarter.
    fell = recent_rate < (1 - feed.max_drop) * min(previous_rate, baseline_rate)
    if judged_fall and fell:
        problems.append(
            f"{recent_rate:,.1f} events a day in the last {feed.recent_days} days against "
            f"{previous_rate:,.1f} in the {feed.recent_days} days before "
            f"({recent_rate / previous_rate - 1:+.0%}{since}): the feed stopped or fell"
        )
    elif recent_rate < (1 - feed.max_stop) * baseline_rate:
        problems.append(
            f"{recent_rate:,.1f} events a day in the last {feed.recent_days} days against "
            f"{baseline_rate:,.1f} in the {feed.baseline_days} days before "
            f"({recent_rate / baseline_rate - 1:+.0%}{since}): the feed stopped or fell"
        )
    problems += _share_problems(recent, baseline, "values", "events without a value", feed, True)
    problems += _share_problems(recent, baseline, "no_session", "events without a session", feed)
    problems += _scale_problems(recent, baseline, feed)
    return SignalHealth(signal, float(recent_rate), float(baseline_rate), last_day, tuple(problems))


def _share_problems(recent, baseline, column, what, feed: FeedSettings, inverse=False):
    """A jump in the share of events missing a value or a session."""
    if column not in recent or not recent["events"].sum() or not baseline["events"].sum():
        return []

    def share(frame):
        part = frame[column].sum() / frame["events"].sum()
        return 1 - part if inverse else part

    before, now = float(share(baseline)), float(share(recent))
    if now - before > feed.max_null_jump:
        return [f"{what}: {now:.0%} in the last {feed.recent_days} days against {before:.0%}"]
    return []


def _scale_problems(recent, baseline, feed: FeedSettings):
    """Amounts that changed scale (cents instead of dollars, a currency switch)."""
    if "value_sum" not in recent or not recent["values"].sum() or not baseline["values"].sum():
        return []
    before = baseline["value_sum"].sum() / baseline["values"].sum()
    now = recent["value_sum"].sum() / recent["values"].sum()
    if before > 0 and not (1 / feed.max_value_ratio <= now / before <= feed.max_value_ratio):
        return [
            f"mean value per event {now:,.2f} against {before:,.2f} before ({now / before:.1f}x)"
        ]
    return []


def has_event_feed(cfg: Config) -> bool:
    """False for a labels-only snapshot (churn from labels, no signal mapped): no feed to check."""
    return not (cfg.churn.source == "labels" and not cfg.signals.model_dump(exclude_defaults=True))


def feed_record(health: list[SignalHealth], cfg: Config) -> dict:
    """What a night's manifest keeps of its feed checks: the status and each judged signal's
    daily volume (recent and baseline); exempt signals that fell are named in the status."""
    if not has_event_feed(cfg):
        return {"status": "not checked (no event feed)"}
    fell = [h.signal for h in health if h.problems]  # only exempt ones pass with problems
    return {
        "status": "passed" + (f" ({', '.join(fell)} fell; exempt)" if fell else ""),
        "signals": {
            h.signal: {
                "recent_per_day": round(h.recent_per_day, 2),
                "baseline_per_day": round(h.baseline_per_day, 2),
            }
            for h in health
        },
    }


def check_feeds(dataset: Dataset, cfg: Config, as_of: pd.Timestamp) -> list[SignalHealth]:
    """Freshness, then every mapped signal's health; FeedError naming each broken signal."""
    feed = cfg.feed
    if not has_event_feed(cfg):
        # A labels-only snapshot (no signal mapped): there is no event feed to judge.
        log.info("no signal is mapped and churn comes from labels: no event feed to check")
        return []
    check_freshness(last_event_before(dataset, as_of), as_of, feed.lateness_days)
    windows = Windows.before(as_of, feed)
    volumes = daily_volumes(dataset, windows)
    mapped = {name: names for name, names in cfg.signals.model_dump().items() if names}
    health = [signal_health(volumes, name, names, windows, feed) for name, names in mapped.items()]
    judged = [h for h in health if h is not None]
    broken = [h for h in judged if h.problems and h.signal not in feed.exempt]
    for quiet in (h for h in judged if h.problems and h.signal in feed.exempt):
        log.warning(
            "signals.%s (exempt, feed.exempt): %s", quiet.signal, " | ".join(quiet.problems)
        )
    if broken:
        named = [f"signals.{h.signal} ({', '.join(mapped[h.signal])}): " for h in broken]
        details = [name + " | ".join(h.problems) for name, h in zip(named, broken, strict=True)]
        raise FeedError(
            "feed health: "
            + "; ".join(details)
            + "; fix the feed (or pick another --as-of) before scoring, or list a signal that "
            "may pause (campaign sends) in feed.exempt"
        )
    log.info(
        "feeds healthy as of %s: %s",
        f"{as_of:%Y-%m-%d}",
        ", ".join(f"{h.signal} {h.recent_per_day:,.0f}/day" for h in judged) or "none judged",
    )
    return judged
