"""A Segment export and a GA4 BigQuery export go from `churn data import` through `churn init`
to a registered model with `churn train`, on the config `churn init` wrote, unedited.

The exports (tests/fixtures/importer_exports.py) are four months of generated history: Segment
accounts of which some send `Subscription Cancelled` (init proposes event churn), GA4 devices
of which some stop visiting (GA4 has no cancel event: init proposes inactivity churn); both
spread over the span so every cutoff init proposes has churners.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from tests.fixtures.importer_exports import ga4_history, segment_history, write_lines

pytestmark = pytest.mark.slow

KINDS = {
    "segment": (segment_history, ["--trait", "plan"], "events"),
    "ga4": (ga4_history, [], "inactivity"),
}


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"churn {' '.join(args[:2])}: {result.output}"
    return result.output


@pytest.mark.parametrize("kind", list(KINDS))
def test_imported_export_trains_with_the_config_init_wrote(tmp_path, monkeypatch, kind) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    history, extra, churn = KINDS[kind]
    src = write_lines(tmp_path / "export" / "part-0.jsonl.gz", history())
    data, config, var = tmp_path / "data", tmp_path / "cfg.yaml", tmp_path / "var"

    run("data", "import", kind, str(src.parent), "--out", str(data), *extra)
    assert "validation passed" in run("init", "--data", str(data), "--out", str(config))
    proposed = yaml.safe_load(config.read_text())
    assert proposed["churn"]["source"] == churn
    assert proposed["snapshots"]["count"] >= 3
    assert proposed["training"]["embargo"] == "strict"

    run("validate", "--data", str(data), "--config", str(config))
    said = run("train", "--data", str(data), "--config", str(config), "--var-dir", str(var),
               "--trials", "1")  # fmt: skip
    model = proposed["training"]["model_name"]
    assert f"model:          {model} v1 -> " in said

    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{model}'")
    assert [str(v.version) for v in versions] == ["1"]
    report = json.loads(runs_file(var, "evaluation.json").read_text())
    split = report["split"]
    assert split["method"] == "time" and not split["dropped_cutoffs"]
    for part in ("train", "valid", "test"):
        assert len(split["cutoffs"][part]) == 1
        assert 0 < split[f"{part}_churn_rate"] < 1, part


def runs_file(var: Path, name: str) -> Path:
    """The one training run's file `name` in the run folder."""
    (found,) = var.glob(f"runs/*/{name}")
    return found
