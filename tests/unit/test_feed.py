"""Feed health and freshness on hand-made daily volumes (the checks are pure functions)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import FeedSettings
from features.errors import DataContractError, FeedError
from features.feed import Windows, check_freshness, signal_health

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")
FEED = FeedSettings()  # 14 recent days against the 90 before


def volumes(per_day: dict[str, int], stop_after: pd.Timestamp | None = None, **columns):
    """Daily counts per event name over the 104 days before AS_OF (none after `stop_after`)."""
    days = pd.date_range(AS_OF - pd.Timedelta(days=104), AS_OF - pd.Timedelta(days=1), tz="UTC")
    rows = [
        {
            "event": event,
            "day": day,
            "events": count if stop_after is None or day < stop_after else 0,
        }
        for event, count in per_day.items()
        for day in days
    ]
    frame = pd.DataFrame(rows)
    for name, values in columns.items():
        frame[name] = values(frame)
    return frame


WINDOWS = Windows.before(AS_OF, FEED)


def test_windows_are_half_open_and_end_at_as_of() -> None:
    assert WINDOWS.end == AS_OF
    assert WINDOWS.recent_start == AS_OF - pd.Timedelta(days=14)
    assert WINDOWS.baseline_start == AS_OF - pd.Timedelta(days=104)


def test_a_steady_signal_is_healthy() -> None:
    health = signal_health(volumes({"faq": 40}), "faq_page", ["faq"], WINDOWS, FEED)
    assert health is not None and health.problems == ()
    assert health.recent_per_day == health.baseline_per_day == 40


def test_a_stopped_signal_is_named_with_its_last_day() -> None:
    stop = AS_OF - pd.Timedelta(days=10)
    health = signal_health(volumes({"email_sent": 100}, stop), "email_sent", ["email_sent"],
                           WINDOWS, FEED)  # fmt: skip
    assert health is not None and len(health.problems) == 1
    assert "stopped or fell" in health.problems[0] and "2026-06-20" in health.problems[0]
    # 4 of 14 recent days: 28.6 a day against 100, a 71% fall.
    assert health.recent_per_day == pytest.approx(400 / 14)


def test_a_fall_within_the_allowed_share_passes() -> None:
    frame = volumes({"login": 100})
    recent = frame["day"] >= WINDOWS.recent_start
    frame.loc[recent, "events"] = 60  # -40%, the limit is -50%
    assert signal_health(frame, "activity", ["login"], WINDOWS, FEED).problems == ()


def test_a_rare_signal_is_not_judged() -> None:
    # 3 a day in the baseline: 42 expected in 14 days, below the 50 needed to judge.
    assert signal_health(volumes({"cancel": 3}, AS_OF - pd.Timedelta(days=14)), "cancel_page",
                         ["cancel"], WINDOWS, FEED) is None  # fmt: skip


def test_amounts_in_another_scale_and_missing_values_are_named() -> None:
    def values(frame):
        return frame["events"]

    def value_sum(frame):
        recent = frame["day"] >= WINDOWS.recent_start
        return frame["events"] * 30.0 * (1 + 99 * recent)  # cents in the last 14 days

    frame = volumes({"payment": 20}, values=values, value_sum=value_sum)
    problems = signal_health(frame, "payment", ["payment"], WINDOWS, FEED).problems
    assert problems == ("mean value per event 3,000.00 against 30.00 before (100.0x)",)
    frame["values"] = frame["events"].where(frame["day"] < WINDOWS.recent_start, 0)
    frame["value_sum"] = frame["values"] * 30.0
    problems = signal_health(frame, "payment", ["payment"], WINDOWS, FEED).problems
    assert problems == ("events without a value: 100% in the last 14 days against 0%",)


def test_freshness_needs_events_up_to_the_day_before() -> None:
    check_freshness(pd.Timestamp("2026-06-30 23:10", tz="UTC"), AS_OF, 0)
    check_freshness(pd.Timestamp("2026-06-30 00:00", tz="UTC"), AS_OF, 0)
    with pytest.raises(FeedError, match=r"events end at 2026-06-29 22:00 UTC.*feed is late"):
        check_freshness(pd.Timestamp("2026-06-29 22:00", tz="UTC"), AS_OF, 0)
    check_freshness(pd.Timestamp("2026-06-29 22:00", tz="UTC"), AS_OF, 1)  # one late day allowed
    with pytest.raises(DataContractError, match="no event comes before"):
        check_freshness(None, AS_OF, 0)


def test_a_base_thinning_out_over_a_quarter_is_not_a_broken_feed() -> None:
    # An acquisition burst fading: 300 a day three months ago, 100 a day for the last month
    # (-67% against the baseline), but steady over the last 28 days.
    frame = volumes({"purchase": 100})
    early = frame["day"] < AS_OF - pd.Timedelta(days=30)
    frame.loc[early, "events"] = 300
    health = signal_health(frame, "activity", ["purchase"], WINDOWS, FEED)
    assert health.problems == () and health.recent_per_day < 0.5 * health.baseline_per_day
    # The same fall within two weeks is a broken feed.
    frame.loc[frame["day"] >= WINDOWS.recent_start, "events"] = 30
    assert (
        "stopped or fell"
        in signal_health(frame, "activity", ["purchase"], WINDOWS, FEED).problems[0]
    )


def test_a_bursty_signal_quiet_for_a_fortnight_is_not_a_broken_feed() -> None:
    """Campaign sends: an ordinary fortnight after a doubled one falls by half against it, yet
    is ordinary for the quarter, so only a fall against the baseline too is a problem."""
    frame = volumes({"email_sent": 0})
    campaign = frame["day"].dt.dayofyear % 7 == 0  # weekly sends of 1,000
    frame.loc[campaign, "events"] = 1000
    recent = frame["day"] >= WINDOWS.recent_start
    previous = (frame["day"] >= WINDOWS.previous_start) & ~recent
    frame.loc[previous & campaign, "events"] = 2100  # a big fortnight before: -52% after it
    assert (recent & campaign).sum() == 2 and (previous & campaign).sum() == 2
    health = signal_health(frame, "email_sent", ["email_sent"], WINDOWS, FEED)
    assert health is not None and health.problems == ()
    # The same fortnight with no send at all is still a stopped feed.
    frame.loc[recent, "events"] = 0
    stopped = signal_health(frame, "email_sent", ["email_sent"], WINDOWS, FEED)
    assert stopped is not None and "stopped or fell" in stopped.problems[0]
