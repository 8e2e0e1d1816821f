"""`churn backtest` end to end: three past nights of a small synthetic world scored by a model
trained before them, joined to the outcomes that matured since, against an independent count."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from features.config import Config
from features.dataset import open_dataset
from features.errors import EXIT_RETRAIN
from features.matrix import build_matrix
from pipelines.backtest import run_backtest
from pipelines.cli import app
from pipelines.score import run_score
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day, trained_world

pytestmark = pytest.mark.slow

NIGHTS = ("2026-04-01", "2026-05-01", "2026-06-01")
# The world's events end 2026-07-01 (exclusive) and the horizon is 30 days: all three nights
# have matured. Observed only until mid-June, the last one is still pending.
EARLY_END = "2026-06-15"


def with_snapshots(cfg: Config, **changes) -> Config:
    raw = cfg.model_dump()
    raw["snapshots"].update(changes)
    return Config.model_validate(raw)


def write_config(cfg: Config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 1500-customer world, a model whose last training cutoff (2026-03-02, labels to
    2026-04-01) precedes every night, and the three nights scored with it."""
    root = tmp_path_factory.mktemp("backtest")
    cfg = quick_config(
        "churn-backtest-test",
        max_boost_rounds=80,
        early_stopping_rounds=10,
        shap_sample_rows=200,
        drift_fail_psi=0.6,  # small samples make PSI noisy: fail only on gross drift here
    )
    cfg = with_snapshots(cfg, last_cutoff="2026-03-02")
    with trained_world(root, customers=1500, seed=11, cfg=cfg) as (data, model):
        for night in NIGHTS:
            run_score(data, cfg, pd.Timestamp(night, tz="UTC"), root / "out", model)
        yield {"root": root, "data": data, "cfg": cfg, "model": model}


def independent_outcome(world, night: str) -> pd.DataFrame:
    """The night's written scores beside the feature matrix's label at that cutoff."""
    cutoff = pd.Timestamp(night, tz="UTC")
    matrix = build_matrix(open_dataset(world["data"]), world["cfg"], [cutoff])
    scores = read_day(world["root"] / "out" / "scores" / f"as_of={night}")
    return scores.merge(matrix[["customer_id", "churned"]], on="customer_id", how="outer")


@pytest.fixture(scope="module")
def cli_run(world):
    """`churn backtest` through the CLI, as a scheduler would run it."""
    root = world["root"]
    config = write_config(world["cfg"], root / "config.yaml")
    args = ["backtest", "--data", str(world["data"]), "--scores", str(root / "out")]
    args += ["--out", str(root / "bt"), "--config", str(config), "--var-dir", str(root / "var")]
    result = CliRunner().invoke(app, args)
    assert (root / "bt" / "backtest" / "ledger.parquet").is_file(), (
        result.output,
        result.exception,
    )
    ledger = pd.read_parquet(root / "bt" / "backtest" / "ledger.parquet")
    return result, ledger.set_index("as_of")


def test_cli_writes_one_matured_row_per_night(cli_run) -> None:
    result, ledger = cli_run
    assert result.exit_code == 0, result.output
    assert list(ledger.index) == list(NIGHTS)
    assert (ledger["status"] == "matured").all()
    assert ledger["model_version"].tolist() == ["churn-backtest-test/1"] * 3
    assert all(night in result.output for night in NIGHTS) and "pending" not in result.output
    assert "test AUC" in result.output and "churn-backtest-test/1" in result.output
    assert not ledger["retrain_recommended"].any()


@pytest.mark.parametrize("night", NIGHTS)
def test_auc_and_churn_equal_an_independent_computation(world, cli_run, night: str) -> None:
    _, ledger = cli_run
    joined = independent_outcome(world, night)
    assert joined["churn_probability"].notna().all() and joined["churned"].notna().all()
    row = ledger.loc[night]
    label, probability = joined["churned"].to_numpy(), joined["churn_probability"].to_numpy()
    assert row["rows"] == row["labelled_rows"] == len(joined)
    assert row["unlabelled_rows"] == 0 and row["unscored_active"] == 0
    assert row["churners"] == int(label.sum())
    assert row["observed_rate"] == pytest.approx(label.mean(), abs=1e-12)
    # Ranking judged on untreated customers: other as is, each control group standing for its
    # tier (its customers over its controls); treated customers left out.
    acted = joined["tier"].isin(["high", "medium"]).to_numpy()
    control = joined["control"].to_numpy(dtype=bool)
    weight = np.where(acted, 0.0, 1.0)
    for tier in ("high", "medium"):
        in_tier = (joined["tier"] == tier).to_numpy()
        weight[in_tier & control] = in_tier.sum() / (in_tier & control).sum()
    judged = weight > 0
    auc = roc_auc_score(label[judged], probability[judged], sample_weight=weight[judged])
    assert row["roc_auc"] == pytest.approx(auc, abs=1e-6)
    assert row["judged_rows"] == judged.sum()
    assert row["observed_to_expected"] == pytest.approx(
        (weight * label).sum() / (weight * probability).sum(), rel=1e-9
    )
    assert row["expected_churners"] == pytest.approx(probability.sum(), rel=1e-9)
    high = joined["tier"] == "high"
    assert row["tier_high_churners"] == int(label[high].sum())
    assert row["tier_high_capture"] == pytest.approx(label[high].sum() / label.sum())


def test_ledger_json_and_mlflow_run_hold_no_customer_id(world, cli_run) -> None:
    import mlflow

    root = world["root"]
    text = (root / "bt" / "backtest" / "ledger.json").read_text()
    record = json.loads(text)
    assert [night["as_of"] for night in record["nights"]] == list(NIGHTS)
    assert record["observed_until"] == "2026-07-01"
    customer_ids = pd.read_parquet(world["data"] / "customers.parquet")["customer_id"]
    assert not any(f'"{cid}"' in text for cid in customer_ids)
    runs = mlflow.search_runs(
        experiment_names=["churn-backtest-test"],
        filter_string="attributes.run_name = 'backtest synthetic 2026-07-01'",
    )
    assert len(runs) == 1 and runs["metrics.nights_matured"].iloc[0] == 3
    artifacts = mlflow.artifacts.list_artifacts(
        run_id=runs["run_id"].iloc[0], artifact_path="backtest"
    )
    assert sorted(Path(a.path).name for a in artifacts) == ["ledger.json", "ledger.parquet"]


def test_pending_estimate_holds_once_the_night_matures(world) -> None:
    """Observed until mid-June, 2026-06-01 is pending with its expected churners; observed to
    the end, its churners fall within 3 Poisson-binomial sd of that estimate (a fair bound: the
    count of independent Bernoulli outcomes with the written probabilities has exactly that sd,
    so a calibrated model misses it about 3 times in 1000)."""
    root = world["root"]
    early = with_snapshots(world["cfg"], observed_until=EARLY_END)
    pending = run_backtest(
        world["data"], root / "out", root / "bt-early", early, root / "var", log_to_mlflow=False
    ).ledger.set_index("as_of")
    assert pending["status"].tolist() == ["matured", "matured", "pending"]
    before = pending.loc["2026-06-01"]
    assert pd.isna(before["churners"]) and pd.isna(before["roc_auc"])
    assert not before["retrain_recommended"]
    later = run_backtest(
        world["data"], root / "out", root / "bt-late", world["cfg"], root / "var", False
    ).ledger.set_index("as_of")
    after = later.loc["2026-06-01"]
    assert after["status"] == "matured"
    assert after["expected_churners"] == pytest.approx(before["expected_churners"], rel=1e-12)
    for tier in ("high", "medium", "other"):
        column = f"tier_{tier}_expected_precision"
        assert after[column] == pytest.approx(before[column], rel=1e-12, nan_ok=True)
    gap = after["churners"] - before["expected_churners"]
    assert abs(gap) <= 3 * before["expected_churners_sd"], (gap, before["expected_churners_sd"])


def test_a_night_outside_the_band_exits_6_after_writing(world, tmp_path: Path) -> None:
    """A night whose written probabilities were three times too high: the ledger is written,
    the night is flagged and the command exits with RetrainRecommended's code. (Written as a
    night without a control group, judged on everyone: with one, its 64 controls stand for 722
    acted-on customers, too few to call a factor of 3 beyond 3 sd on 1,500 customers.)"""
    source = world["root"] / "out" / "scores" / "as_of=2026-05-01"
    night = tmp_path / "out" / "scores" / "as_of=2026-05-01"
    shutil.copytree(source, night)
    for part in night.glob("part-*.parquet"):
        rows = pd.read_parquet(part)
        rows["churn_probability"] = np.minimum(rows["churn_probability"] * 3, 0.99)
        rows = rows.drop(columns="control")
        rows.to_parquet(part, index=False)
    config = write_config(world["cfg"], tmp_path / "config.yaml")
    args = ["backtest", "--data", str(world["data"]), "--scores", str(tmp_path / "out")]
    args += ["--out", str(tmp_path), "--config", str(config)]
    args += ["--var-dir", str(world["root"] / "var")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_RETRAIN, result.output
    assert "retrain recommended" in result.output and "2026-05-01" in result.output
    assert "observed/expected" in result.output
    ledger = pd.read_parquet(tmp_path / "backtest" / "ledger.parquet")
    assert ledger["retrain_recommended"].tolist() == [True]
    assert ledger["observed_to_expected"].iloc[0] < 0.8
