"""On the synthetic world, churners differ from stayers in the direction the generator planted.

The generator knows nothing of the feature code, so this checks both: the world carries its
signals, and the builders see them. Medians over two monthly cutoffs of a 4,000-customer world.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import load_config
from features.dataset import open_dataset
from features.matrix import build_matrix
from features.synth import write_world

CUTOFFS = [pd.Timestamp("2026-05-02", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")]

# feature -> +1 if churners' median is higher, -1 if lower
PLANTED = {
    "faq_visits_90d": +1,  # web journey
    "cancel_page_visits_30d": +1,
    "faq_then_cancel_30d": +1,
    "support_contacts_90d": +1,  # support
    "days_since_last_support_contact": -1,
    "days_since_last_activity": +1,  # activity
    "active_days_90d": -1,
    "email_open_rate_30d": -1,  # email
    "unopened_email_streak": +1,
    "plan_price": +1,  # value: price sensitivity
}


@pytest.fixture(scope="module")
def medians(tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("world")
    write_world(folder, customers=4000, seed=3, truth=False)
    matrix = build_matrix(open_dataset(folder), load_config(), CUTOFFS)
    assert matrix["churned"].sum() > 100
    return matrix.groupby("churned")[list(PLANTED)].median()


@pytest.mark.parametrize("feature", sorted(PLANTED))
def test_churners_differ_from_stayers_in_the_planted_direction(medians, feature):
    stayers, churners = medians.loc[0.0, feature], medians.loc[1.0, feature]
    direction = PLANTED[feature]
    assert direction * (churners - stayers) > 0, (
        f"{feature}: stayers {stayers}, churners {churners}"
    )
