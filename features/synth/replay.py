"""`churn data replay`: the world again, with a scores day's campaign planted in it.

The world is regenerated from the seed, size and spec in its `truth/world.json`, so everything
before the scores day is the world's own; from the day on, treated customers churn with their
hazard multiplied by their action's effect (`features.synth.campaign`). Besides the world's usual
truth, `truth/campaign.json` holds the planted effects and `truth/treatment.parquet` each scored
customer's untreated and treated churn probability over the horizon.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from rich.console import Group
from rich.table import Table

from features.errors import ConfigError, DataContractError
from features.synth.campaign import TREATED_TIERS, campaign_from_scores, read_scores_day
from features.synth.population import customer_ids
from features.synth.spec import WorldSpec
from features.synth.world import WorldSummary, write_world

log = logging.getLogger(__name__)


def world_record(world: Path) -> tuple[int, int, WorldSpec]:
    """Seed, customer count and spec of a world written by `churn data synth`."""
    truth = Path(world) / "truth"
    if (truth / "campaign.json").is_file():
        raise ConfigError(f"replay: {world} is itself a replay; replay the world it came from")
    if not (truth / "world.json").is_file():
        raise DataContractError(
            [
                f"replay: {world} has no truth/world.json (the seed and spec that regenerate "
                "it); write it again with `churn data synth` (the same --customers and --seed "
                "give the same world)"
            ]
        )
    record = json.loads((truth / "world.json").read_text())
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in record["spec"].items()}
    return int(record["seed"]), int(record["customers"]), WorldSpec(**fields)


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


@dataclass(frozen=True)
class ReplaySummary:
    """The replayed world's counts and the planted effects; prints as two tables."""

    world: WorldSummary
    planted: dict

    def __rich__(self) -> Group:
        planted = self.planted
        table = Table(
            title=f"Campaign of {planted['as_of']} planted ({planted['horizon_days']}-day horizon)"
        )
        table.add_column("tier")
        for name in ("treated", "control", "untreated churn", "treated churn", "difference"):
            table.add_column(name, justify="right")
        for tier in TREATED_TIERS:
            row = planted["tiers"][tier]
            table.add_row(
                tier,
                f"{row['treated']:,}",
                f"{row['control']:,}",
                _number(row["untreated_churn_probability"], ".4f"),
                _number(row["treated_churn_probability"], ".4f"),
                _number(row["churn_difference"], "+.4f"),
            )
        effects = ", ".join(f"{a}={m:g}" for a, m in planted["effects"].items()) or "none given"
        default = planted["default_effect"]
        table.caption = (
            f"effects: {effects}; other actions: {'none' if default is None else f'{default:g}'}. "
            "difference = treated minus untreated churn probability (negative: retained)"
        )
        return Group(self.world, table)

    def __str__(self) -> str:
        return f"{self.world}; campaign of {self.planted['as_of']} planted"


def replay_world(
    world: Path | str,
    scores: Path | str,
    effects: dict[str, float],
    out: Path | str,
    *,
    default_effect: float | None = None,
    horizon_days: int = 30,
    workers: int | None = None,
) -> ReplaySummary:
    """Regenerate `world` into `out` with the campaign of the scores day at `scores` (an
    `as_of=` folder or a Parquet file) planted: `effects` maps an action to its hazard
    multiplier, `default_effect` covers actions not listed (else they are an error)."""
    world, out = Path(world), Path(out)
    if out.resolve() == world.resolve():
        raise ConfigError("replay: choose another --out; the replay keeps the original world")
    seed, customers, spec = world_record(world)
    ids = customer_ids(np.arange(customers, dtype=np.int64), customers)
    campaign = campaign_from_scores(
        read_scores_day(Path(scores)), effects, default_effect, horizon_days, spec, ids
    )
    summary = write_world(out, customers, seed, workers=workers, spec=spec, campaign=campaign)
    if not pq.read_table(out / "customers.parquet").equals(
        pq.read_table(world / "customers.parquet")
    ):
        log.warning(
            "replay: the regenerated customers differ from %s: the generator changed since the "
            "world was written, so the replay is not its continuation",
            world,
        )
    planted = json.loads((out / "truth" / "campaign.json").read_text())
    return ReplaySummary(summary, planted)
