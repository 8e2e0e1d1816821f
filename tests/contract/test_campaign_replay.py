"""A campaign planted in the synthetic world and measured by the backtest.

A hand-made scores day (tiers by true risk, a random 10% control group, an action per tier) is
replayed into a 20,000-customer world: with a hazard multiplier below 1 the backtest's
treated-minus-control interval per tier holds the planted effect from the truth and, in the high
tier, excludes zero; with multiplier 1 (no effect) it holds zero. Before the scores day the
replayed world is the world itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from features.errors import ConfigError
from features.synth import true_churn_probability, write_world
from features.synth.campaign import parse_effects
from features.synth.replay import replay_world
from pipelines.backtest import run_backtest
from pipelines.cli import app

pytestmark = pytest.mark.slow

CUSTOMERS = 20_000
SEED = 5
AS_OF = pd.Timestamp("2026-05-01", tz="UTC")  # + 30 days ends before the world (2026-07-01)
EFFECTS = {"call": 0.5, "email": 0.6}
TIERS = ("high", "medium")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    write_world(root / "world", customers=CUSTOMERS, seed=SEED, workers=1)
    return root


@pytest.fixture(scope="module")
def scores_day(root: Path) -> Path:
    """The day's scores as the nightly job would write them, made by hand: the top 10% by true
    risk are high (action "call"), the next 20% medium ("email"), a random 10% is control."""
    truth = true_churn_probability(root / "world", [AS_OF], 30)
    truth = truth.sort_values("true_probability", ascending=False, ignore_index=True)
    rank = np.arange(len(truth))
    tier = np.where(rank < len(truth) // 10, "high", "other")
    tier = np.where((tier == "other") & (rank < 3 * len(truth) // 10), "medium", tier)
    control = np.random.default_rng(0).random(len(truth)) < 0.10
    action = np.select(
        [control, tier == "high", tier == "medium"], ["none (control)", "call", "email"], "none"
    )
    day = root / "scores" / "scores" / f"as_of={AS_OF:%Y-%m-%d}"
    day.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": truth["customer_id"],
            "as_of": truth["cutoff"],
            "churn_probability": truth["true_probability"],
            "tier": tier,
            "control": control,
            "action": action,
            "model_version": "truth/1",
        }
    ).to_parquet(day / "part-00000.parquet", index=False)
    return day


def backtested(root: Path, scores_day: Path, out: Path, **more) -> dict:
    """The night backtested on a replayed world: its ledger row and the world's truth."""
    ledger = run_backtest(
        out, scores_day.parent, out, load_config(), root / "var", log_to_mlflow=False
    ).ledger
    planted = json.loads((out / "truth" / "campaign.json").read_text())
    return {"out": out, "row": ledger.iloc[0].to_dict(), "planted": planted, **more}


@pytest.fixture(scope="module")
def effective(root, scores_day) -> dict:
    replay_world(root / "world", scores_day, EFFECTS, root / "effective")
    return backtested(root, scores_day, root / "effective")


@pytest.fixture(scope="module")
def no_effect(root, scores_day) -> dict:
    """Replayed through the CLI with every effect 1: one given, the other by default."""
    args = ["data", "replay", "--world", str(root / "world"), "--scores", str(scores_day)]
    args += ["--out", str(root / "no-effect"), "--effect", "call=1", "--default-effect", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return backtested(root, scores_day, root / "no-effect", output=result.output)


def interval(row: dict, tier: str) -> tuple[float, float, float]:
    prefix = f"tier_{tier}_treated_minus_control"
    return row[f"{prefix}_ci_low"], row[prefix], row[f"{prefix}_ci_high"]


def test_truth_records_the_planted_effects(effective, scores_day) -> None:
    planted = effective["planted"]
    assert planted["as_of"] == "2026-05-01" and planted["horizon_days"] == 30
    assert planted["effects"] == EFFECTS
    scores = pd.read_parquet(scores_day)
    rows = pd.read_parquet(effective["out"] / "truth" / "treatment.parquet")
    assert len(rows) == len(scores)  # every scored customer was alive on the day
    for tier, action in zip(TIERS, EFFECTS, strict=True):
        record, mine = planted["tiers"][tier], rows[rows["tier"] == tier]
        outside = mine[~mine["control"]]
        assert (record["treated"], record["control"]) == (len(outside), int(mine["control"].sum()))
        assert record["actioned"] == record["treated"] and set(outside["action"]) == {action}
        assert (outside["multiplier"] == EFFECTS[action]).all()
        assert (mine.loc[mine["control"], "multiplier"] == 1).all()
        # The recorded difference is the mean of (1 - exp(-m dH)) - (1 - exp(-dH)).
        h = -np.log1p(-outside["untreated_probability"].to_numpy())
        mean = np.mean(np.exp(-h) - np.exp(-EFFECTS[action] * h))
        assert record["churn_difference"] == pytest.approx(mean, rel=1e-9) and mean < 0
        assert planted["actions"][action]["multiplier"] == EFFECTS[action]


def test_backtest_recovers_the_planted_effect(effective) -> None:
    row, planted = effective["row"], effective["planted"]
    for tier in TIERS:
        low, difference, high = interval(row, tier)
        truth = planted["tiers"][tier]["churn_difference"]
        assert low <= truth <= high, (tier, low, difference, high, truth)
    # The high tier's campaign is strong enough to be seen: its interval excludes zero.
    assert interval(row, "high")[2] < 0
    counts = planted["tiers"]["high"]
    assert row["tier_high_treated_customers"] == counts["treated"]
    assert row["tier_high_control_customers"] == counts["control"]


def test_without_an_effect_the_interval_holds_zero(no_effect) -> None:
    row = no_effect["row"]
    for tier in TIERS:
        low, _, high = interval(row, tier)
        assert low <= 0 <= high
        assert no_effect["planted"]["tiers"][tier]["churn_difference"] == 0


@pytest.mark.parametrize("replay", ["effective", "no_effect"])
def test_treated_customers_churn_as_the_truth_says(replay, request) -> None:
    """The replay realises the planted probabilities: the treated customers' churn rate in each
    tier lies within 3 Poisson-binomial sd of the mean of their true (treated) probabilities,
    with the effect (0.15 in the high tier) or without it (0.26)."""
    result = request.getfixturevalue(replay)
    rows = pd.read_parquet(result["out"] / "truth" / "treatment.parquet")
    for tier in TIERS:
        p = rows.loc[(rows["tier"] == tier) & ~rows["control"], "treated_probability"]
        sd = np.sqrt((p * (1 - p)).sum()) / len(p)
        observed = result["row"][f"tier_{tier}_treated_churn_rate"]
        assert abs(observed - p.mean()) <= 3 * sd, (tier, observed, p.mean(), sd)


def test_the_world_before_the_day_is_the_worlds_own(root, effective, no_effect) -> None:
    original = pd.read_parquet(root / "world" / "events")
    treated = pd.read_parquet(effective["out"] / "events")
    before = original[original["ts"] < AS_OF].reset_index(drop=True)
    assert treated[treated["ts"] < AS_OF].reset_index(drop=True).equals(before)
    after = original[original["ts"] >= AS_OF].reset_index(drop=True)
    assert not treated[treated["ts"] >= AS_OF].reset_index(drop=True).equals(after)
    # Multiplier 1 changes nothing at all: the same files as the world's.
    for name in ("customers.parquet", "truth/customers.parquet"):
        assert (no_effect["out"] / name).read_bytes() == (root / "world" / name).read_bytes()
    parts = sorted((root / "world" / "events").glob("*.parquet"))
    assert [(no_effect["out"] / "events" / p.name).read_bytes() for p in parts] == [
        p.read_bytes() for p in parts
    ]
    # The treated world churns less in the horizon, and only later than the day.
    churned = {
        name: pd.read_parquet(folder / "truth" / "customers.parquet")["churned_at"]
        for name, folder in (("world", root / "world"), ("treated", effective["out"]))
    }
    early = {name: (c < AS_OF).sum() for name, c in churned.items()}
    assert early["world"] == early["treated"]
    end = AS_OF + pd.Timedelta(days=30)
    window = {name: c.between(AS_OF, end, inclusive="left").sum() for name, c in churned.items()}
    assert window["treated"] < window["world"]


def test_cli_replay_and_its_refusals(root, scores_day, no_effect) -> None:
    assert "Campaign of 2026-05-01 planted" in no_effect["output"]
    assert no_effect["planted"]["effects"] == {"call": 1.0}
    assert no_effect["planted"]["default_effect"] == 1
    args = ["data", "replay", "--world", str(root / "world"), "--scores", str(scores_day)]
    result = CliRunner().invoke(app, [*args, "--out", str(root / "cli"), "--effect", "call=0.5"])
    assert result.exit_code != 0 and "email" in result.output  # an action without an effect
    named = [*args, "--out", str(root / "cli"), "--effect", "retention_call=0.5"]
    result = CliRunner().invoke(app, [*named, "--default-effect", "0.8"])
    assert result.exit_code != 0 and "['retention_call'] match(es) no treated action" in (
        result.output
    )  # a name the scores do not carry is never silently ignored
    again = ["data", "replay", "--world", str(root / "no-effect"), "--scores", str(scores_day)]
    result = CliRunner().invoke(app, [*again, "--out", str(root / "cli"), "--default-effect", "1"])
    assert result.exit_code != 0 and "itself a replay" in result.output
    assert not (root / "cli").exists()
    with pytest.raises(ConfigError, match="ACTION=MULTIPLIER"):
        parse_effects(["call=-1"])
    assert parse_effects(["win back=0.7"]) == {"win back": 0.7}
