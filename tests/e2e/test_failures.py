"""`churn score` on damaged inputs and a failing disk: one plain line on stderr, a non-zero exit
code, nothing published; and a model folder scores without touching mlflow at all."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from features.errors import EXIT_BAD_DATA, EXIT_FAILURE
from pipelines import catalog
from pipelines.cli import app
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import trained_world

pytestmark = pytest.mark.slow

AS_OF = "2026-07-01"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 600-customer world and the folder of a model trained on it (one trial)."""
    root = tmp_path_factory.mktemp("failures")
    cfg = quick_config("churn-failures-test", trials=1, max_boost_rounds=40)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    with trained_world(root, customers=600, seed=2, cfg=cfg) as (data, _):
        (folder,) = (root / "var" / "runs").glob("*/model")
        yield {"data": data, "config": config, "model": folder}


def score(world, tmp_path: Path, data: Path | None = None, **env: str):
    out = tmp_path / "out"
    args = ["score", "--data", str(data or world["data"]), "--as-of", AS_OF, "--out", str(out)]
    args += ["--config", str(world["config"]), "--model", str(world["model"])]
    return CliRunner().invoke(app, args, env=env or None), out


def the_error(result) -> str:
    """The failure's line: the only `error:` line, last on stderr, with no trace before it."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert [line for line in lines if "error:" in line] == lines[-1:], result.stderr
    return lines[-1]


def copy_world(world, target: Path) -> Path:
    shutil.copytree(world["data"], target, ignore=shutil.ignore_patterns("truth"))
    return target


def test_a_model_folder_scores_without_mlflow(world, tmp_path, monkeypatch) -> None:
    import mlflow

    def untouchable(*args, **kwargs):
        raise AssertionError("mlflow used while scoring from a model folder")

    monkeypatch.setattr(mlflow.MlflowClient, "__init__", untouchable)
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", untouchable)
    result, out = score(world, tmp_path, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert result.exit_code == 0, result.output
    assert catalog.scored_days(out) == [AS_OF]


def test_corrupt_parquet_is_one_line_naming_the_file(world, tmp_path) -> None:
    data = copy_world(world, tmp_path / "corrupt")
    damaged = data / "customers.parquet"
    damaged.write_bytes(damaged.read_bytes()[:2000])
    result, out = score(world, tmp_path, data)
    assert result.exit_code == EXIT_BAD_DATA
    line = the_error(result)
    assert str(damaged) in line and "damaged" in line
    assert catalog.scored_days(out) == []


def test_a_csv_amount_with_a_decimal_comma_is_one_line(world, tmp_path) -> None:
    data = tmp_path / "csv"
    data.mkdir()
    pd.read_parquet(world["data"] / "customers.parquet").to_csv(data / "customers.csv", index=False)
    events = pd.read_parquet(world["data"] / "events").astype({"value": object})
    events.loc[events["value"].notna().idxmax(), "value"] = "9,99"
    events.to_csv(data / "events.csv", index=False)
    result, out = score(world, tmp_path, data)
    assert result.exit_code != 0
    assert "value" in the_error(result)
    assert catalog.scored_days(out) == []


def test_a_full_disk_is_one_line_naming_the_file(world, tmp_path, monkeypatch) -> None:
    def full(table, where, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(pq, "write_table", full)
    result, out = score(world, tmp_path)
    assert result.exit_code == EXIT_FAILURE
    line = the_error(result)
    assert "no space left on device writing" in line and "part-00000.parquet" in line
    assert catalog.scored_days(out) == []


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "permission denied on"),
        (OSError(errno.EROFS, os.strerror(errno.EROFS)), "cannot write"),
    ],
)
def test_a_read_only_output_is_one_line(world, tmp_path, monkeypatch, error, words) -> None:
    """Root ignores permissions, so the refusal is injected where every write starts: making
    a folder under --out."""
    out = tmp_path / "out"
    real_mkdir = os.mkdir

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(out)):
            raise type(error)(error.errno, error.strerror, str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", refuse)
    result, _ = score(world, tmp_path)
    monkeypatch.undo()
    assert result.exit_code == EXIT_FAILURE
    line = the_error(result)
    assert f"{words} {out}" in line and "read-only" in line  # out, or the folder in it
    assert not out.exists()
