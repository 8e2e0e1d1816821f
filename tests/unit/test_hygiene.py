"""Security and hygiene: bundle checksums, no pickle in any job, no temporary folder left behind,
published files readable by group and others, a plain model name, the run's package versions."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from importlib import metadata
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.config import DEFAULT_CONFIG, load_config
from features.errors import ChurnError, ConfigError
from models.bundle import CHECKSUMS, FILES, ModelBundle
from models.calibration import Calibrator
from models.spec import FeatureSpec


def tiny_bundle() -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    label = (frame["x1"] + rng.normal(size=300) > 0).astype(int)
    spec = FeatureSpec.from_frame(frame, names=["x1", "x2"])
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(spec.to_matrix(frame), label), num_boost_round=5)
    calibrator = Calibrator("platt", {"slope": 1.0, "intercept": 0.0})
    return ModelBundle(booster, calibrator, spec, {"bins": {}}), frame


@pytest.fixture
def saved(tmp_path) -> tuple[Path, pd.DataFrame]:
    bundle, frame = tiny_bundle()
    return bundle.save(tmp_path / "model"), frame


def test_save_records_every_file_checksum_and_load_checks_them(saved) -> None:
    folder, frame = saved
    record = json.loads((folder / CHECKSUMS).read_text())
    assert record == {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES
    }
    assert ModelBundle.load(folder).predict_proba(frame).shape == (len(frame),)


@pytest.mark.parametrize("name", FILES)
def test_a_tampered_bundle_file_is_refused_naming_it(saved, name) -> None:
    folder, _ = saved
    path = folder / name
    path.write_bytes(path.read_bytes() + b" ")  # still valid text/JSON: only the checksum knows
    with pytest.raises(ChurnError, match=rf"model bundle \S+: {name} does not match its recorded"):
        ModelBundle.load(folder)


def test_a_missing_bundle_file_is_refused_naming_it(saved) -> None:
    folder, _ = saved
    (folder / "calibrator.json").unlink()
    with pytest.raises(ChurnError, match=r"calibrator\.json is missing"):
        ModelBundle.load(folder)


def test_the_registry_record_catches_a_rewritten_checksums_file(saved) -> None:
    """Altering model.txt and rewriting checksums.json to match passes the bundle's own record;
    the copy kept at registration still refuses it."""
    folder, _ = saved
    registered = json.loads((folder / CHECKSUMS).read_text())
    model = folder / "model.txt"
    text = model.read_text()
    model.write_text(
        text.replace("feature_names=Column_0 Column_1", "feature_names=Column_1 Column_0")
    )
    assert model.read_text() != text
    rewritten = {**registered, "model.txt": hashlib.sha256(model.read_bytes()).hexdigest()}
    (folder / CHECKSUMS).write_text(json.dumps(rewritten))
    ModelBundle.load(folder)
    with pytest.raises(ChurnError, match=r"models:/m/1: model\.txt does not match"):
        ModelBundle.load(folder, "models:/m/1", registered)


def test_a_bundle_saved_before_checksums_loads_with_a_warning(saved, caplog) -> None:
    folder, frame = saved
    (folder / CHECKSUMS).unlink()
    with caplog.at_level(logging.WARNING, logger="models.bundle"):
        loaded = ModelBundle.load(folder)
    assert loaded.predict_proba(frame).shape == (len(frame),)
    assert any("no checksums.json" in r.getMessage() for r in caplog.records)


def fake_registry(saved_folder: Path, seen: list[Path]):
    """A stand-in for mlflow's download: a pyfunc model folder with the bundle as its artifact."""
    import shutil

    def download(artifact_uri: str, dst_path: str, **kwargs) -> str:
        seen.append(Path(dst_path))
        if artifact_uri.endswith("/missing"):
            from mlflow.exceptions import MlflowException

            raise MlflowException("no such run")
        model = Path(dst_path) / "model"
        shutil.copytree(saved_folder, model / "artifacts" / "bundle")
        meta = {
            "flavors": {"python_function": {"artifacts": {"bundle": {"path": "artifacts/bundle"}}}}
        }
        (model / "MLmodel").write_text(yaml.safe_dump(meta))
        return str(model)

    return download


def test_load_bundle_removes_its_download_on_every_exit_path(saved, tmp_path, monkeypatch) -> None:
    import mlflow

    from models import registry

    folder, frame = saved
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen: list[Path] = []
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", fake_registry(folder, seen))

    assert registry.load_bundle("runs:/abc/model").predict_proba(frame).shape == (len(frame),)
    with pytest.raises(ChurnError, match="cannot be loaded"):
        registry.load_bundle("runs:/abc/missing")
    (folder / "spec.json").write_text("{}")
    with pytest.raises(ChurnError, match=r"spec\.json does not match"):
        registry.load_bundle("runs:/abc/model")
    assert len(seen) == 3 and all(path.parent == temp for path in seen)
    assert all(path.name.startswith("churn-model-") for path in seen)
    assert list(temp.iterdir()) == []


def test_every_cli_job_forbids_pickle_even_if_allowed_outside(tmp_path, monkeypatch) -> None:
    from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION

    from pipelines.cli import app

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path / "nothing")])
    assert result.exit_code != 0  # no dataset: the job ran and failed in its own way
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    assert MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get() is False


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_published_outputs_are_readable_by_group_and_others(tmp_path) -> None:
    from pipelines import catalog

    previous = os.umask(0o022)
    try:
        as_of = pd.Timestamp("2026-07-01", tz="UTC")
        with catalog.publish_day(tmp_path, as_of) as staging:
            (staging / "part-00000.parquet").write_bytes(b"PAR1")
            catalog.write_manifest(staging, {"as_of": "2026-07-01"})
        ledger = catalog.write_ledger(pd.DataFrame({"n": [1]}), {"rows": 1}, tmp_path)
        report = catalog.write_report("<html></html>", tmp_path / "reports" / "r.html")
        matrix = tmp_path / "features" / "matrix.parquet"
        catalog.write_matrix(pd.DataFrame({"x": [1.0]}), matrix)
    finally:
        os.umask(previous)
    day = catalog.day_folder(tmp_path, as_of)
    folders = {day: mode(day), ledger: mode(ledger)}
    files = {p: mode(p) for p in [*day.iterdir(), *ledger.iterdir(), report, matrix]}
    assert set(folders.values()) == {0o755}, folders
    assert set(files.values()) == {0o644}, files
    names = {p.name for p in files}
    assert {
        "part-00000.parquet",
        "manifest.json",
        "ledger.parquet",
        "r.html",
        "matrix.parquet",
    } <= names


@pytest.mark.parametrize("name", ["../models", "a/b", "churn model", ".hidden", "x\ny", ""])
def test_a_model_name_with_path_characters_is_refused(tmp_path, name) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["training"]["model_name"] = name
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"training\.model_name: .*letters, digits") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_plain_model_names_are_accepted(tmp_path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["training"]["model_name"] = "churn_v2.1-telecom"
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path).training.model_name == "churn_v2.1-telecom"


def test_the_environment_record_lists_the_numeric_packages_with_their_versions(monkeypatch):
    import platform

    import mlflow

    from models import registry

    logged: dict = {}
    monkeypatch.setattr(mlflow, "log_dict", lambda data, name: logged.update({name: data}))
    monkeypatch.setattr(mlflow, "log_params", lambda params: logged.update(params))
    record = registry.log_environment()
    required = [
        "numpy",
        "pandas",
        "pyarrow",
        "duckdb",
        "ibis-framework",
        "scikit-learn",
        "lightgbm",
        "optuna",
        "shap",
        "mlflow",
    ]
    assert {name: record["packages"][name] for name in required} == {
        name: metadata.version(name) for name in required
    }
    assert record["python"] == platform.python_version()
    assert logged["environment.json"] == record
    assert logged["env.lightgbm"] == lgb.__version__
    assert logged["env.python"] == platform.python_version()
