"""Scoring end to end on an 800-customer world: a builder changed since training is refused
naming it (scored only with --allow-code-change, which the manifest records), and what
validation dropped appears in the manifest."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pandas as pd
import pyarrow.dataset as pads
import pytest
import yaml
from typer.testing import CliRunner

from features import registry
from models.scoring import ModelMismatchError
from pipelines.score import run_score
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day, trained_world

pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature-code")
    cfg = quick_config(
        "churn-code-test", max_boost_rounds=60, early_stopping_rounds=10, shap_sample_rows=200
    )
    with trained_world(root, customers=800, seed=13, cfg=cfg) as (data, model):
        first = run_score(data, cfg, AS_OF, root / "out", model)
        yield {"root": root, "data": data, "cfg": cfg, "model": model, "first": first}


def support_contacts_7d(ctx):
    """Support calls and chats in the 7 days before the cutoff."""
    return ctx.count("support_contact", 10)  # edited after training: a 10-day window


@pytest.fixture
def edited_builder(monkeypatch):
    """The function registered for `support_contacts_7d` replaced by a same-named edit."""
    builders = registry.available_builders()
    edited = replace(builders["support_contacts_7d"], build=support_contacts_7d)
    monkeypatch.setitem(registry._REGISTRY, "support_contacts_7d", edited)


def test_a_normal_night_records_the_code_check_and_the_data_quality(world) -> None:
    manifest = json.loads((world["first"].folder / "manifest.json").read_text())
    assert manifest["feature_code"] == {"status": "same"}
    quality = manifest["data_quality"]
    assert quality["duplicate_events_dropped"] == 0
    assert quality["unknown_customer_events_dropped"] == 0
    assert quality["events"] == quality["events_kept"] > 10_000


def test_duplicate_events_dropped_are_counted_in_the_manifest(world, tmp_path) -> None:
    copy = tmp_path / "duplicated"
    copy.mkdir()
    shutil.copy(world["data"] / "customers.parquet", copy / "customers.parquet")
    events = pads.dataset(world["data"] / "events").to_table().to_pandas()
    doubled = pd.concat([events, events.iloc[::500]], ignore_index=True)  # exact copies
    doubled.to_parquet(copy / "events.parquet", index=False)
    out = run_score(copy, world["cfg"], AS_OF, tmp_path / "out", world["model"])
    quality = out.manifest.data_quality
    assert quality["duplicate_events_dropped"] == len(events.iloc[::500]) > 0
    assert quality["events"] == len(doubled) and quality["events_kept"] == len(events)
    saved = json.loads((out.folder / "manifest.json").read_text())["data_quality"]
    assert saved == quality
    # Dropped, so the scores are those of the clean data.
    pd.testing.assert_frame_equal(read_day(out.folder), read_day(world["first"].folder))


def test_a_changed_builder_is_refused_naming_the_feature(world, tmp_path, edited_builder) -> None:
    with pytest.raises(ModelMismatchError) as refused:
        run_score(world["data"], world["cfg"], AS_OF, tmp_path / "out", world["model"])
    message = str(refused.value)
    assert "feature code changed since training: support_contacts_7d;" in message
    assert "--allow-code-change" in message
    assert not list((tmp_path / "out").rglob("*.parquet"))  # nothing scored, nothing published

    allowed = run_score(
        world["data"], world["cfg"], AS_OF, tmp_path / "out", world["model"],
        allow_code_change=True,
    )  # fmt: skip
    assert allowed.manifest.feature_code == {
        "status": "changed",
        "changed": ["support_contacts_7d"],
        "allowed": True,
    }
    assert len(read_day(allowed.folder)) == len(read_day(world["first"].folder))


def test_the_cli_refuses_in_one_line_and_scores_with_the_flag(
    world, tmp_path, edited_builder
) -> None:
    from pipelines.cli import app

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(world["cfg"].model_dump(mode="json")))
    args = ["score", "--data", str(world["data"]), "--as-of", "2026-07-01"]
    args += ["--out", str(tmp_path / "out"), "--config", str(config), "--model", world["model"]]
    runner = CliRunner()
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    errors = [line for line in refused.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "support_contacts_7d" in errors[0], refused.stderr
    assert "Traceback" not in refused.output
    passed = runner.invoke(app, [*args, "--allow-code-change"])
    assert passed.exit_code == 0, passed.output
    day = tmp_path / "out" / "scores" / "as_of=2026-07-01" / "manifest.json"
    assert json.loads(day.read_text())["feature_code"]["allowed"] is True
