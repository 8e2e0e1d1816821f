"""A seeded synthetic customer world with planted churn signals and its ground truth.

`write_world` writes `customers.parquet`, `events/part-*.parquet` and `truth/`;
`true_churn_probability` reads the truth back for any cutoffs and horizon; `replay.replay_world`
writes the world again with a scores day's campaign planted (`features.synth.campaign`).
"""

from features.synth.spec import WorldSpec
from features.synth.truth import true_churn_probability
from features.synth.world import WorldSummary, write_world

__all__ = ["WorldSpec", "WorldSummary", "true_churn_probability", "write_world"]
