"""Property tests of point-in-time correctness: nothing at or after a cutoff reaches a feature."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.config import load_config
from features.matrix import build_matrix, feature_columns
from features.synth.spec import EVENT_NAMES as SYNTH_EVENT_NAMES
from tests.fixtures.feature_fixtures import CUTOFF, customers_frame, events_frame, in_memory_dataset

CFG = load_config()
EVENT_NAMES = [n for n in SYNTH_EVENT_NAMES if n != "email_click"]
CUSTOMERS = customers_frame(
    [
        ("a", "2023-01-01", "basic", "DE", 10.0),
        ("b", "2023-06-01", "premium", "FR", 40.0),
        ("c", "2024-05-01", "basic", "DE", 10.0),
    ]
)
# An anchor event long after the horizon fixes the end of observation, so every variant is
# labelled the same way.
ANCHOR = ("a", "2024-12-31T00:00:00", "login", None, None)
SECONDS_IN_SPAN = 200 * 86_400


def _event(before: bool):
    """A random event within 200 days before (or at/after) the cutoff, to the microsecond."""
    offsets = (
        st.integers(1, SECONDS_IN_SPAN * 1_000_000)
        if before
        else st.integers(0, SECONDS_IN_SPAN * 1_000_000)
    )
    return st.builds(
        lambda customer, offset, name, value, session: (
            customer,
            (CUTOFF + (-1 if before else 1) * pd.Timedelta(microseconds=offset)).isoformat(),
            name,
            value if name == "payment" else None,
            session,
        ),
        st.sampled_from(["a", "b", "c"]),
        offsets,
        st.sampled_from(
            [n for n in EVENT_NAMES if n != "subscription_cancelled"] if before else EVENT_NAMES
        ),
        st.floats(1, 100),
        st.sampled_from([None, "s1", "s2"]),
    )


def _features(rows: list[tuple]) -> pd.DataFrame:
    dataset = in_memory_dataset(CUSTOMERS, events_frame([ANCHOR, *rows]))
    matrix = build_matrix(dataset, CFG, [CUTOFF])
    return matrix.set_index("customer_id")


# Each matrix build takes about 0.2 s, so the examples are counted to keep each test near 4 s
# in the fast tier: about 20 matrix builds per test.
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # Shrinking a failure can take minutes at ~0.2 s per example; the raw failing example is
    # printed all the same.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@settings(SETTINGS, max_examples=10)
@given(
    past=st.lists(_event(before=True), max_size=25),
    future=st.lists(_event(before=False), min_size=1, max_size=10),
)
def test_events_at_or_after_the_cutoff_change_no_feature(past, future):
    without = _features(past)
    with_future = _features(past + future)
    # The population may only shrink if... it cannot: churn events after the cutoff keep the
    # customer in the snapshot (they churn in the label window, not before).
    assert list(with_future.index) == list(without.index)
    columns = feature_columns(without.reset_index())
    pd.testing.assert_frame_equal(with_future[columns], without[columns])


@settings(SETTINGS, max_examples=7)
@given(past=st.lists(_event(before=True), max_size=25), moved=_event(before=True))
def test_an_event_moved_to_the_cutoff_leaves_the_features(past, moved):
    customer, _, name, value, session = moved
    just_before = (
        customer,
        (CUTOFF - pd.Timedelta(microseconds=1)).isoformat(),
        name,
        value,
        session,
    )
    at_cutoff = (customer, CUTOFF.isoformat(), name, value, session)
    baseline = _features(past)
    at = _features([*past, at_cutoff])
    before = _features([*past, just_before])
    columns = feature_columns(baseline.reset_index())
    # At the cutoff the event is invisible to the features...
    pd.testing.assert_frame_equal(at[columns], baseline[columns])
    # ...and so is the label, since only churn events make labels and past events are not churn.
    pd.testing.assert_series_equal(at["churned"], baseline["churned"])
    # One microsecond earlier it is a feature of its customer (at least the activity counts or
    # "days since" features see it) and no other customer's row changes.
    others = [c for c in baseline.index if c != customer]
    pd.testing.assert_frame_equal(before.loc[others, columns], baseline.loc[others, columns])
    if customer in baseline.index and name in CFG.signals.activity:
        # Epoch seconds floor the microsecond: the event is one second before the cutoff.
        assert before.loc[customer, "days_since_last_activity"] == 1 / 86_400


@settings(SETTINGS, max_examples=10)
@given(past=st.lists(_event(before=True), max_size=15), customer=st.sampled_from(["a", "b", "c"]))
def test_a_churn_event_at_the_cutoff_only_sets_the_label(past, customer):
    churn_at_cutoff = (customer, CUTOFF.isoformat(), "subscription_cancelled", None, None)
    baseline = _features(past)
    churned = _features([*past, churn_at_cutoff])
    columns = feature_columns(baseline.reset_index())
    pd.testing.assert_frame_equal(churned[columns], baseline[columns])
    assert churned.loc[customer, "churned"] == 1.0
