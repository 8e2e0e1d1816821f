"""A campaign planted in the synthetic world: from a scores day on, the customers it treated churn
less (or more) by a known factor, and the truth records by how much.

A scores day says, per customer, the tier (high/medium/other), whether the customer is in the
control group and the action. Treated are the rows of tier high or medium outside the control
group whose action is not "none"; from the scores day on, a treated customer's daily churn hazard
is multiplied by the action's multiplier (1 = no effect, 0.7 = 30% lower hazard). Churn happens
where the cumulative hazard crosses the customer's Exp(1) threshold, so everything before the
day - the events, the churns, the hazard - is the world's own.

The truth's effect is intent-to-treat, the quantity a treated-versus-control comparison of the
tier measures: over the tier's customers outside the control group (treated or not),

    churn_difference = mean of (1 - exp(-m dH)) - (1 - exp(-dH))

with dH the customer's untreated cumulative hazard over [day, day + horizon) and m the
multiplier applied to the customer (1 when none was). It is treated minus untreated churn
probability: negative when the campaign retains customers, the sign of the backtest's
treated-minus-control churn rate.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import as_utc
from features.errors import ConfigError, DataContractError
from features.synth import events as ev
from features.synth.latent import Latent, treat_latent
from features.synth.population import Population
from features.synth.spec import DAY_US, WorldSpec

log = logging.getLogger(__name__)

TREATED_TIERS = ("high", "medium")
NO_ACTION = "none"
# The replay's own random stream per chunk: the chunk's seed extended by this key, so the
# world's stream (and everything it drew) is untouched.
REPLAY_STREAM = 0x7265706C6179  # "replay"


def parse_effects(texts: list[str]) -> dict[str, float]:
    """`ACTION=MULTIPLIER` pairs as a dict; a multiplier is a finite number >= 0."""
    effects: dict[str, float] = {}
    for text in texts:
        action, sep, number = text.rpartition("=")
        try:
            multiplier = float(number)
        except ValueError:
            multiplier = math.nan
        if not sep or not action.strip() or not math.isfinite(multiplier) or multiplier < 0:
            raise ConfigError(
                f"replay: --effect {text!r} is not ACTION=MULTIPLIER with a number >= 0 "
                "(1 = no effect, 0.7 = 30% lower hazard)"
            )
        effects[action.strip()] = multiplier
    return effects


@dataclass(frozen=True)
class Campaign:
    """One scores day's decisions as hazard multipliers, per customer of the whole world."""

    as_of: pd.Timestamp
    day: int  # world day index of as_of
    horizon_days: int
    effects: dict[str, float]
    default_effect: float | None
    rows: pd.DataFrame  # customer_id, index, tier, control, action, actioned, multiplier
    multiplier: np.ndarray  # per world customer; 1 = untreated

    def chunk(self, first: int, n: int) -> Treatment:
        """The part of the campaign that falls on customers [first, first + n)."""
        scored = np.zeros(n, dtype=bool)
        index = self.rows["index"].to_numpy()
        scored[index[(index >= first) & (index < first + n)] - first] = True
        return Treatment(self.day, self.horizon_days, self.multiplier[first : first + n], scored)


@dataclass(frozen=True)
class Treatment:
    """One chunk's share of a campaign: what each of its customers' hazard is multiplied by
    from world day `day` on, and which of them the scores day holds."""

    day: int
    horizon_days: int
    multiplier: np.ndarray
    scored: np.ndarray


def read_scores_day(path: Path) -> pd.DataFrame:
    """A scores day: a folder of Parquet parts (an `as_of=` folder) or one Parquet file."""
    path = Path(path)
    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not parts or not parts[0].is_file():
        raise DataContractError([f"replay: no scores Parquet files at {path}"])
    frame = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    missing = [c for c in ("customer_id", "as_of", "tier", "action") if c not in frame.columns]
    if missing:
        raise DataContractError([f"replay: scores at {path} lack the column(s) {missing}"])
    return frame


def campaign_from_scores(
    scores: pd.DataFrame,
    effects: dict[str, float],
    default_effect: float | None,
    horizon_days: int,
    spec: WorldSpec,
    world_ids: np.ndarray,
) -> Campaign:
    """Each scored customer's multiplier: the action's effect where the row is treated, else 1."""
    as_of = as_utc(scores["as_of"].iloc[0])
    if scores["as_of"].nunique() != 1 or as_of != as_of.normalize():
        raise DataContractError(["replay: the scores must be one day, as_of at midnight UTC"])
    day = (as_of.value // 1000 - spec.start_us) // DAY_US
    if not 0 < day < spec.days or day + horizon_days > spec.sim_days:
        raise ConfigError(
            f"replay: scores day {as_of:%Y-%m-%d} with a {horizon_days}-day horizon is not "
            f"inside the world ({spec.start} to {spec.end})"
        )
    position = pd.Series(np.arange(len(world_ids)), index=pd.Index(world_ids))
    index = scores["customer_id"].map(position)
    if index.isna().any():
        raise DataContractError(
            [
                f"replay: {int(index.isna().sum())} scored customer(s) are not in the world; "
                "replay the world these scores were made on"
            ]
        )
    if scores["customer_id"].duplicated().any():
        raise DataContractError(["replay: a customer appears twice in the scores day"])
    control = (
        scores["control"].fillna(False).astype(bool)
        if "control" in scores.columns
        else pd.Series(False, index=scores.index)
    )
    action = scores["action"].astype("object").fillna(NO_ACTION).astype(str)
    treated = (
        scores["tier"].isin(TREATED_TIERS).to_numpy()
        & ~control.to_numpy()
        & ~action.str.startswith(NO_ACTION).to_numpy()
    )
    labels = set(action[treated])
    # An --effect naming no action of the day would be planted nowhere: say so, never ignore it.
    stray = sorted(set(effects) - labels)
    if stray:
        raise ConfigError(
            f"replay: --effect {stray} match(es) no treated action of the day; the scores name "
            f"actions by their labels: {sorted(labels)}"
        )
    unknown = sorted(labels - set(effects))
    if unknown and default_effect is None:
        raise ConfigError(
            f"replay: no --effect for the action(s) {unknown}; give each as ACTION=MULTIPLIER "
            "or set --default-effect"
        )
    multiplier_of = {name: default_effect for name in unknown} | effects
    per_row = np.where(treated, action.map(multiplier_of).fillna(1.0).to_numpy(float), 1.0)
    multiplier = np.ones(len(world_ids))
    multiplier[index.to_numpy(dtype=np.int64)] = per_row
    rows = pd.DataFrame(
        {
            "customer_id": scores["customer_id"].astype(str).to_numpy(),
            "index": index.to_numpy(dtype=np.int64),
            "tier": scores["tier"].astype("object").to_numpy(),
            "control": control.to_numpy(),
            "action": action.to_numpy(),
            "actioned": treated,
            "multiplier": per_row,
        }
    )
    return Campaign(as_of, int(day), horizon_days, effects, default_effect, rows, multiplier)


def continue_treated(
    seed: np.random.SeedSequence,
    pop: Population,
    latent: Latent,
    batch: ev.Batch,
    treatment: Treatment,
    spec: WorldSpec,
    campaigns: np.ndarray,
    session_base: int,
) -> tuple[Latent, ev.Batch]:
    """The chunk with the campaign applied. Customers whose churn moves keep their events before
    the day; from the day on, theirs are drawn anew (from the replay's own stream) for the
    life the campaign gave them. Every other customer keeps every event."""
    rng = np.random.default_rng(
        np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, REPLAY_STREAM))
    )
    treated = treat_latent(rng, pop, latent, spec, treatment.day, treatment.multiplier)
    # Events see the churn only inside the world: a churn moved from one instant past its end
    # to another changes none of them.
    moved = np.flatnonzero(
        (treated.churn_us != latent.churn_us)
        & (np.minimum(treated.churn_us, latent.churn_us) < spec.end_us)
    )
    if not len(moved):
        return treated, batch
    day_us = spec.start_us + treatment.day * DAY_US
    fresh = ev.simulate_events(
        rng, pop.take(moved), treated.take(moved), spec, campaigns, session_base
    )
    fresh.customer = moved[fresh.customer]
    later = fresh.ts >= day_us
    kept = ~(np.isin(batch.customer, moved) & (batch.ts >= day_us))
    fields = ev.Batch.__dataclass_fields__
    joined = ev.Batch(
        *(np.concatenate([getattr(batch, f)[kept], getattr(fresh, f)[later]]) for f in fields)
    )
    order = np.lexsort((joined.code, joined.customer, joined.ts))
    return treated, ev.Batch(*(getattr(joined, f)[order] for f in fields))


def untreated_hazard(
    ids: pa.Array, pop: Population, latent: Latent, treatment: Treatment, spec: WorldSpec
) -> pa.Table:
    """Per scored customer of the chunk: alive at the day, and the untreated cumulative hazard
    over [day, day + horizon)."""
    rows = np.flatnonzero(treatment.scored)
    day, end = treatment.day, treatment.day + treatment.horizon_days
    day_us = spec.start_us + day * DAY_US
    gained = latent.cumulative_hazard[rows, end] - latent.cumulative_hazard[rows, day]
    return pa.table(
        {
            "customer_id": ids.take(pa.array(rows)),
            "alive": pa.array((pop.signup_us[rows] < day_us) & (latent.churn_us[rows] >= day_us)),
            "untreated_hazard": pa.array(gained, pa.float64()),
        }
    )


def _summary(rows: pd.DataFrame) -> dict:
    """Counts and mean probabilities of one tier's (or action's) rows outside control."""
    outside = rows[~rows["control"]]
    return {
        "customers": len(rows),
        "control": int(rows["control"].sum()),
        "treated": len(outside),
        "actioned": int(outside["actioned"].sum()),
        "untreated_churn_probability": _mean(outside["untreated_probability"]),
        "treated_churn_probability": _mean(outside["treated_probability"]),
        "churn_difference": _mean(
            outside["treated_probability"] - outside["untreated_probability"]
        ),
    }


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def campaign_truth(campaign: Campaign, hazard: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per scored customer the untreated and treated churn probability over the horizon, and
    the record of the planted effects (per action the multiplier; per tier the intent-to-treat
    churn difference a treated-versus-control comparison should recover)."""
    rows = campaign.rows.drop(columns="index").merge(hazard, on="customer_id", validate="1:1")
    dead = int((~rows["alive"]).sum())
    if dead:
        log.warning("replay: %d scored customer(s) had churned before the scores day", dead)
    rows = rows[rows["alive"]].drop(columns="alive").reset_index(drop=True)
    h = rows.pop("untreated_hazard").to_numpy()
    rows["untreated_probability"] = 1.0 - np.exp(-h)
    rows["treated_probability"] = 1.0 - np.exp(-rows["multiplier"].to_numpy() * h)
    record = {
        "as_of": f"{campaign.as_of:%Y-%m-%d}",
        "horizon_days": campaign.horizon_days,
        "effects": campaign.effects,
        "default_effect": campaign.default_effect,
        "churn_difference": (
            "treated minus untreated churn probability over [as_of, as_of + horizon), averaged "
            "over the tier's customers outside the control group (intent to treat); negative "
            "means the campaign retained customers. A treated-minus-control comparison of the "
            "tier's churn rates estimates it."
        ),
        "tiers": {t: _summary(rows[rows["tier"] == t]) for t in TREATED_TIERS},
        "actions": {
            name: {"multiplier": float(group["multiplier"].iloc[0]), **_summary(group)}
            for name, group in rows[rows["actioned"]].groupby("action", sort=True)
        },
    }
    return rows, record
