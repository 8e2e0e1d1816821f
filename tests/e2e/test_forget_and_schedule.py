"""`churn forget` on a scored small world (two nights and a `churn features --out` file), and the
optional Dagster definition materialised on the same world: validate -> score -> report ->
backtest. One model is trained for both."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from pipelines import catalog
from pipelines.cli import app
from pipelines.score import run_score
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day, trained_world

pytestmark = pytest.mark.slow

NIGHTS = ("2026-06-01", "2026-07-01")
UNKNOWN = "NOT-A-CUSTOMER-42"


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An 800-customer world and a model; two nights scored into VAR/scores as the nightly
    job does, and the training matrix written by `churn features --out` outside VAR."""
    root = tmp_path_factory.mktemp("forget")
    cfg = quick_config(
        "churn-forget-test",
        max_boost_rounds=60,
        early_stopping_rounds=10,
        shap_sample_rows=200,
        drift_fail_psi=0.6,  # small samples make PSI noisy: fail only on gross drift here
    )
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    with trained_world(root, customers=800, seed=5, cfg=cfg) as (data, model):
        var = root / "var"
        for night in (*NIGHTS, NIGHTS[-1]):  # the last night rerun: an older version exists
            run_score(data, cfg, pd.Timestamp(night, tz="UTC"), var, model)
        features = root / "features.parquet"
        args = ["features", "--data", str(data), "--config", str(config), "--out", str(features)]
        made = CliRunner().invoke(app, args)
        assert made.exit_code == 0, made.output
        yield {"root": root, "data": data, "cfg": cfg, "config": config, "model": model}


@pytest.fixture(scope="module")
def forgotten(world):
    """Three customers scored on both nights and in the matrix, plus an unknown id, forgotten
    through the CLI; everything as it was before, for comparison."""
    root, var = world["root"], world["root"] / "var"
    folders = {night: catalog.day_folder(var, pd.Timestamp(night, tz="UTC")) for night in NIGHTS}
    days = {night: read_day(folder) for night, folder in folders.items()}
    manifests = {night: manifest_of(folder) for night, folder in folders.items()}
    matrix = pd.read_parquet(root / "features.parquet")
    common = set(days[NIGHTS[0]]["customer_id"]) & set(days[NIGHTS[1]]["customer_id"])
    ids = sorted(common & set(matrix["customer_id"]))[5:8]
    assert len(ids) == 3
    request = root / "forget.txt"
    request.write_text("\n".join([ids[0], f"  {ids[1]}  ", "", ids[2], UNKNOWN, ids[0]]) + "\n")
    args = ["forget", "--customers", str(request), "--var-dir", str(var)]
    result = CliRunner().invoke(app, [*args, "--features", str(root / "features.parquet")])
    return {
        "ids": ids, "folders": folders, "days": days, "manifests": manifests, "matrix": matrix,
        "result": result, "request": request, "args": args, "var": var,
    }  # fmt: skip


def test_forget_removes_the_ids_from_every_scored_day_and_nothing_else(forgotten):
    assert forgotten["result"].exit_code == 0, forgotten["result"].output
    ids = forgotten["ids"]
    for night, folder in forgotten["folders"].items():
        before, after = forgotten["days"][night], read_day(folder)
        assert not after["customer_id"].isin(ids).any()
        expected = before[~before["customer_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(after, expected, check_exact=True)
        assert len(after) == len(before) - 3


def test_no_parquet_file_left_under_the_var_dir_holds_the_ids(forgotten):
    """Whatever the publishing layout keeps (earlier versions, hidden folders): none has them."""
    assert forgotten["result"].exit_code == 0, forgotten["result"].output
    checked = 0
    for path in forgotten["var"].rglob("*.parquet"):
        if "customer_id" in pq.read_schema(path).names:
            ids = pq.read_table(path, columns=["customer_id"]).column(0).to_pylist()
            assert not set(ids) & set(forgotten["ids"]), path
            checked += 1
    assert checked >= len(NIGHTS)


def test_forget_recounts_each_manifest_and_notes_the_erasure(forgotten):
    for night, folder in forgotten["folders"].items():
        before, after = forgotten["manifests"][night], manifest_of(folder)
        assert after["rows"] == before["rows"] - 3 == len(read_day(folder))
        assert after["active_customers"] == before["active_customers"] - 3
        assert after["data"]["rows"] == before["data"]["rows"] - 3
        assert sum(tier["customers"] for tier in after["tiers"].values()) == after["rows"]
        assert after["model"] == before["model"] and after["drift"] == before["drift"]
        (note,) = after["erasures"]
        assert note["rows_removed"] == 3 and "churn forget" in note["note"]
        # The typed reader still reads the rewritten day.
        frame, manifest = catalog.load_scores(forgotten["var"], night)
        assert manifest is not None and manifest.rows == len(frame)


def test_forget_removes_the_ids_from_the_feature_matrix_file(forgotten, world):
    ids, before = forgotten["ids"], forgotten["matrix"]
    after = pd.read_parquet(world["root"] / "features.parquet")
    assert before["customer_id"].isin(ids).sum() > 3  # several cutoffs each
    assert not after["customer_id"].isin(ids).any()
    expected = before[~before["customer_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, expected, check_exact=True)


def test_the_erasure_log_holds_keyed_hashes_and_counts_never_an_id(forgotten, world):
    var, ids = forgotten["var"], forgotten["ids"]
    text = (var / "erasure-log.jsonl").read_text()
    assert not any(raw in text for raw in [*ids, UNKNOWN])
    record = json.loads(text.splitlines()[0])
    key = (var / "erasure-key").read_text().strip().encode()
    digests = [hmac.new(key, raw.encode(), hashlib.sha256).hexdigest() for raw in [*ids, UNKNOWN]]
    assert record["ids"] == sorted(digests)
    assert (record["requested"], record["found"], record["not_found"]) == (4, 3, 1)
    removed = {entry["path"]: entry["rows_removed"] for entry in record["files"]}
    assert all(removed[str(folder)] == 3 for folder in forgotten["folders"].values())
    matrix = forgotten["matrix"]
    assert removed[str(world["root"] / "features.parquet")] == matrix["customer_id"].isin(ids).sum()
    out = forgotten["result"].output
    assert "3 of 4 customer id(s) found; 1 not found" in out
    assert not any(raw in out for raw in ids)


def test_forgetting_again_changes_nothing_and_counts_every_id_as_not_found(forgotten):
    folder = forgotten["folders"][NIGHTS[-1]]
    parts = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = CliRunner().invoke(app, forgotten["args"])
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == parts
    lines = (forgotten["var"] / "erasure-log.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["not_found"] == 4


def test_dagster_materialises_validate_score_report_backtest(world):
    dagster = pytest.importorskip(
        "dagster",
        reason="the optional [dagster] extra is not installed: pip install -e '.[dagster]' "
        "(make test installs it)",
    )
    from pipelines.dagster_defs import ASSETS, ChurnNight

    var = world["root"] / "dagster-var"
    settings = ChurnNight(
        data=str(world["data"]),
        config=str(world["config"]),
        var_dir=str(var),
        as_of=NIGHTS[-1],
        model=world["model"],
    )
    result = dagster.materialize(ASSETS, resources={"churn": settings})
    assert result.success
    day = catalog.day_folder(var, pd.Timestamp(NIGHTS[-1], tz="UTC"))
    scored = read_day(day)
    assert len(scored) == manifest_of(day)["rows"] > 100
    materialised = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert set(materialised) == {
        "validated_data",
        "nightly_scores",
        "churn_report",
        "backtest_ledger",
    }
    assert materialised["nightly_scores"]["rows"].value == len(scored)
    report = var / "reports" / "churn-report.html"
    assert report.is_file() and "<html" in report.read_text()[:500].lower()
    ledger = pd.read_parquet(var / "backtest" / "ledger.parquet")
    assert list(ledger["as_of"].astype(str)) == [NIGHTS[-1]]


def test_dagster_schedule_scores_its_tick_day_not_the_run_day():
    pytest.importorskip("dagster", reason="the optional [dagster] extra is not installed")
    from datetime import UTC, datetime

    from dagster import build_schedule_context

    from pipelines.dagster_defs import AS_OF_TAG, ChurnNight, churn_nightly_schedule

    tick = datetime(2026, 7, 1, 2, 30, tzinfo=UTC)
    request = churn_nightly_schedule(build_schedule_context(scheduled_execution_time=tick))
    assert request.tags[AS_OF_TAG] == "2026-07-01"
    manual = ChurnNight(data="d", as_of="2026-01-02")
    assert manual.day(request.tags) == pd.Timestamp("2026-07-01", tz="UTC")
    assert manual.day({}) == pd.Timestamp("2026-01-02", tz="UTC")
