"""mlflow tracking, registration without pickle, and the champion gate on two trained models.

The gate's decision on known metrics is in `tests/unit/test_promotion_gate.py`.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from features.errors import ChurnError
from models import registry
from pipelines.train import train_on_matrix
from tests.fixtures.configs import quick_config
from tests.fixtures.matrix_fixtures import synthetic_matrix


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A good model, then one trained on shuffled labels, in one temporary mlflow store."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # The fixture matrix has trailing revenue, no plan price: value from it.
        cfg = quick_config(
            "churn-test",
            max_boost_rounds=80,
            early_stopping_rounds=10,
            shap_sample_rows=200,
            value={"source": "revenue", "revenue_days": 365},
        )
        matrix = synthetic_matrix(customers=1200, cutoffs=4, seed=21)
        good = train_on_matrix(matrix, cfg, root / "var")
        # Labels shuffled on the train and validation cutoffs; the test cutoff keeps the truth,
        # since the gate compares both models on the new model's test rows.
        shuffled = matrix.copy()
        rng = np.random.default_rng(0)
        learn = shuffled["cutoff"] < shuffled["cutoff"].max()
        shuffled.loc[learn, "churned"] = rng.permutation(shuffled.loc[learn, "churned"].to_numpy())
        bad = train_on_matrix(shuffled, cfg, root / "var")
        yield good, bad, root


@pytest.mark.slow
def test_trials_are_nested_runs_under_the_parent(trained) -> None:
    good, _, _ = trained
    client = MlflowClient(good.tracking_uri)
    experiment = client.get_experiment_by_name(good.experiment)
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{good.run_id}'"
    )
    assert len(children) == 2
    assert {run.data.tags["optuna.trial"] for run in children} == {"0", "1"}
    assert all("num_leaves" in run.data.params for run in children)
    parent = client.get_run(good.run_id)
    assert parent.data.tags["git_commit"]
    # The embargo's record: 30-day windows 30 days apart close at the next cutoff, none dropped.
    assert parent.data.tags["split_dropped_count"] == "0"
    assert parent.data.tags["split_dropped_cutoffs"] == "none"
    assert parent.data.params["training.trials"] == "2"
    assert "test_roc_auc" in parent.data.metrics and "baseline_roc_auc" in parent.data.metrics
    artifacts = {item.path for item in client.list_artifacts(good.run_id, "report")}
    assert {"report/evaluation.json", "report/shap_summary.png"} <= artifacts
    # The data fingerprint carries counts and dates, never a customer id.
    fingerprint = mlflow.artifacts.load_dict(f"runs:/{good.run_id}/data/fingerprint.json")
    assert fingerprint["data"]["cutoffs"][-1] == "2024-03-31"
    assert "c00001" not in str(fingerprint)


@pytest.mark.slow
def test_registered_model_loads_without_pickle(trained, tmp_path, monkeypatch) -> None:
    good, _, _ = trained
    uri = f"models:/{good.model_name}/{good.model_version}"
    folder = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(tmp_path), tracking_uri=good.tracking_uri
        )
    )
    files = [path.name for path in folder.rglob("*") if path.is_file()]
    assert not [name for name in files if name.endswith((".pkl", ".pickle"))]
    assert "model.txt" in files and "pyfunc_entry.py" in files

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used on the model load path")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    bundle = registry.load_bundle(str(folder))
    model = mlflow.pyfunc.load_model(str(folder))
    frame = synthetic_matrix(customers=50, cutoffs=1, seed=4)
    served = model.predict(registry.signature_example(bundle, frame).head(5))
    np.testing.assert_allclose(
        served["churn_probability"].to_numpy(), bundle.predict_proba(frame.head(5))
    )


@pytest.mark.slow
def test_shuffled_labels_are_refused_and_champion_stays(trained) -> None:
    good, bad, _ = trained
    assert good.status == "champion"
    assert bad.status == "challenger"
    # Shuffled labels rank no better than chance: refused before any comparison is needed.
    assert "no better than chance" in bad.reason or "worse than champion" in bad.reason
    client = MlflowClient(good.tracking_uri)
    champion = client.get_model_version_by_alias(good.model_name, "champion")
    assert str(champion.version) == good.model_version
    tags = client.get_model_version(bad.model_name, bad.model_version).tags
    assert tags["gate.status"] == "challenger"
    assert tags["gate.compared_with"] == good.model_version
    history = client.get_registered_model(good.model_name).tags["promotion_history"]
    assert '"status": "champion"' in history and '"status": "challenger"' in history


@pytest.mark.slow
def test_the_run_records_the_versions_behind_its_numbers(trained) -> None:
    good, _, _ = trained
    record = mlflow.artifacts.load_dict(f"runs:/{good.run_id}/environment.json")
    for name in ("numpy", "pandas", "pyarrow", "duckdb", "ibis-framework", "scikit-learn"):
        assert record["packages"][name] == metadata.version(name)
    params = MlflowClient(good.tracking_uri).get_run(good.run_id).data.params
    assert params["env.lightgbm"] == metadata.version("lightgbm")
    assert params["env.mlflow"] == mlflow.__version__ and params["env.python"] == record["python"]


@pytest.mark.slow
def test_a_registered_bundle_altered_in_the_store_is_refused(trained, tmp_path, monkeypatch):
    """The registry keeps the checksums apart from the files: rewriting checksums.json beside an
    altered model.txt does not get past it. Every load leaves no download behind."""
    good, _, _ = trained
    client = MlflowClient(good.tracking_uri)
    version = client.get_model_version(good.model_name, good.model_version)
    recorded = json.loads(version.tags[registry.CHECKSUM_TAG])
    model_id = version.model_id or version.source.removeprefix("models:/")
    location = client.get_logged_model(model_id).artifact_location
    bundle = registry.bundle_folder(Path(urlparse(location).path))
    assert json.loads((bundle / "checksums.json").read_text()) == recorded
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    uri = f"models:/{good.model_name}/{good.model_version}"
    model, sums = bundle / "model.txt", bundle / "checksums.json"
    original_model, original_sums = model.read_bytes(), sums.read_bytes()
    try:
        registry.load_bundle(uri)
        model.write_bytes(original_model.replace(b"shrinkage=", b"shrinkage= ", 1))
        sums.write_text(json.dumps(registry.checksums(bundle)))
        with pytest.raises(ChurnError, match=r"model\.txt does not match its recorded checksum"):
            registry.load_bundle(uri)
    finally:
        model.write_bytes(original_model)
        sums.write_bytes(original_sums)
    assert list(temp.iterdir()) == []
