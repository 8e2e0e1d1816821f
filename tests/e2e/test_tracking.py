"""The tracking store, bounded and honest, as a scheduler runs the jobs (separate processes).

A server that refuses or never answers fails `churn score` within 30 s in one line naming it;
two first `churn train` on a fresh store both finish (or one fails in one line), every promotion
was compared with the champion of its moment, and a model folder scores with no server at all
(its scoring run is then not tracked, in one warning). The gate's re-read under the lock, made
deterministic, comes next; last, what a user sees in mlflow after two trainings on the same data
and a night's scoring, read through mlflow's search APIs: the experiment's kind and description,
named runs, the training data as a dataset input, version descriptions, the promotion history,
the scoring run, and no second version for an identical retrain.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from features.synth import write_world

CHURN = Path(sys.executable).with_name("churn")
AS_OF = "2026-07-01"  # the day after the synthetic world's events end
WITHIN = 30  # seconds an unreachable tracking server may cost a job, at most


def churn(*args: str, timeout: float = 90, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """`churn ARGS` in its own process with the default mlflow request bounds (none inherited)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURN_"))}
    started = time.perf_counter()
    done = subprocess.run(
        [str(CHURN), *args], env={**clean, **env}, capture_output=True, text=True, timeout=timeout
    )
    return done, time.perf_counter() - started


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("tracking") / "world"
    write_world(data, customers=600, seed=2)
    return data


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; stops itself after `lifetime` s."""

    def __init__(self, lifetime: float = 60) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.stop = threading.Event()
        self.deadline = time.monotonic() + lifetime
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                self.held.append(self.socket.accept()[0])
            except TimeoutError:
                continue
        for connection in self.held:
            connection.close()
        self.socket.close()

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.mark.slow
def test_a_refusing_tracking_server_fails_fast_in_one_line(world, tmp_path) -> None:
    done, seconds = churn(
        "score", "--data", str(world), "--as-of", AS_OF, "--out", str(tmp_path / "out"),
        MLFLOW_TRACKING_URI="http://127.0.0.1:9",
    )  # fmt: skip
    lines = error_lines(done.stderr)
    assert done.returncode == 1, done.stderr
    assert seconds < WITHIN
    assert len(lines) == 1, done.stderr
    assert "tracking server http://127.0.0.1:9 does not answer (connection refused)" in lines[0]
    assert "--model DIR" in lines[0]
    assert not list((tmp_path / "out").rglob("*.parquet"))


@pytest.mark.slow
def test_a_server_that_never_answers_fails_within_30_seconds(world, tmp_path) -> None:
    with SilentServer() as server:
        done, seconds = churn(
            "score", "--data", str(world), "--as-of", AS_OF, "--out", str(tmp_path / "out"),
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{server.port}",
        )  # fmt: skip
    lines = error_lines(done.stderr)
    assert done.returncode == 1, done.stderr
    assert seconds < WITHIN, seconds
    assert len(lines) == 1, done.stderr
    assert f"tracking server http://127.0.0.1:{server.port} does not answer (no answer" in lines[0]


@pytest.mark.slow
def test_two_first_trainings_on_a_fresh_store(world, tmp_path) -> None:
    """Two `churn train` at once on a store that does not exist yet: both finish (or one fails
    in one line); each promotion was compared with the champion of its moment; then the
    champion's model folder scores with the tracking server gone."""
    var = tmp_path / "var"
    args = [str(CHURN), "train", "--data", str(world), "--var-dir", str(var), "--trials"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURN_"))}
    # Other trials, another config: identical trainings would register one version only.
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    runs = [subprocess.Popen([*args, str(trials)], env=clean, **pipes) for trials in (1, 2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    finished = [run.returncode == 0 for run in runs]
    assert any(finished), outputs
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        if run.returncode != 0:  # a failure is one line, never a migration's traceback
            assert "Traceback" not in stderr, stderr
            assert [line for line in error_lines(stderr) if "error:" in line] == [
                error_lines(stderr)[-1]
            ], stderr

    from mlflow import MlflowClient

    store = f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)  # not a URI another test left set
    name = "churn-synthetic"
    history = json.loads(client.get_registered_model(name).tags["promotion_history"])
    assert len(history) == sum(finished)
    champion = None
    for entry in history:  # in the order the gate ran, under the store lock
        assert entry["previous_champion"] == champion
        if entry["status"] == "champion":
            assert entry["compared_with"] == champion  # never over an unseen champion
            champion = entry["version"]
    alias = client.get_model_version_by_alias(name, "champion")
    assert str(alias.version) == champion

    folder = var / "runs" / alias.run_id / "model"
    done, _ = churn(
        "score", "--data", str(world), "--as-of", AS_OF, "--out", str(tmp_path / "out"),
        "--model", str(folder), MLFLOW_TRACKING_URI="http://127.0.0.1:9",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out").rglob("part-*.parquet"))
    # The night stands; only its mlflow run is lost, in one warning naming the server.
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert len([line for line in warnings if "not tracked" in line]) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "http://127.0.0.1:9 does" in " ".join(done.stderr.split())
    assert "mlflow:  not tracked" in done.stdout


@pytest.fixture
def fresh_store(tmp_path, monkeypatch) -> str:
    """A new SQLite store, with mlflow's process-wide URIs restored afterwards."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    from models import registry

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return registry.use_store(tmp_path)


@pytest.mark.slow
def test_the_gate_never_promotes_over_a_champion_it_did_not_compare(fresh_store) -> None:
    """Two trainings both found no champion; the second to reach the gate finds v1 there,
    re-read under the lock, and stays a challenger saying why. A model compared with the
    current champion is promoted as usual."""
    from mlflow import MlflowClient

    from models import registry

    client = MlflowClient()
    client.create_registered_model("gate-test")
    for _ in range(3):
        client.create_model_version("gate-test", source=str(Path(fresh_store).parent))
    metrics = {"log_loss": 0.40, "pr_auc": 0.50}
    unopposed = registry.promotion_decision(metrics, None, 0.0, None)
    assert registry.apply_decision("gate-test", "1", unopposed, "run-1")[0] == "champion"
    status, applied = registry.apply_decision("gate-test", "2", unopposed, "run-2")
    assert status == "challenger"
    assert "champion moved to v1 while this model was compared with none" in applied.reason
    compared = registry.promotion_decision(metrics, metrics, 0.0, "1")
    assert registry.apply_decision("gate-test", "3", compared, "run-3")[0] == "champion"

    assert client.get_model_version("gate-test", "2").tags["gate.status"] == "challenger"
    assert str(client.get_model_version_by_alias("gate-test", "champion").version) == "3"
    history = json.loads(client.get_registered_model("gate-test").tags["promotion_history"])
    assert [
        (e["version"], e["status"], e["previous_champion"], e["compared_with"]) for e in history
    ] == [
        ("1", "champion", None, None),
        ("2", "challenger", "1", None),
        ("3", "champion", "1", "1"),
    ]


MODEL = "churn-synthetic"
IDENTITY = ("data_hash", "config_fingerprint", "code_fingerprint")


@dataclass(frozen=True)
class Tracked:
    """`churn train` twice on the same data and config, then a night's `churn score`."""

    store: str
    trainings: list[subprocess.CompletedProcess]  # in the order they ran
    scored: subprocess.CompletedProcess
    customer_ids: list[str]

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.store, registry_uri=self.store)  # never a URI left set

    def runs(self, job: str) -> list:
        client = self.client()
        experiment = client.get_experiment_by_name(MODEL)
        return client.search_runs(
            [experiment.experiment_id],
            f"attributes.run_name LIKE '{job} %'",
            order_by=["attributes.start_time ASC"],
        )

    def artifact(self, run_id: str, path: str, folder: Path) -> str:
        return Path(self.client().download_artifacts(run_id, path, str(folder))).read_text()


def identity(run) -> tuple[str, ...]:
    return tuple(run.data.tags[key] for key in IDENTITY)


@pytest.fixture(scope="module")
def tracked(world, tmp_path_factory) -> Tracked:
    """Trainings on the same data and config until two in a row ran the same code (edits to
    features/ or models/ between them make another model: at most three), then a night."""
    import pandas as pd

    var = tmp_path_factory.mktemp("tracked") / "var"
    store = f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    ids = pd.read_parquet(world / "customers.parquet", columns=["customer_id"])["customer_id"]
    train = ("train", "--data", str(world), "--trials", "1", "--var-dir", str(var))
    trainings = []
    while len(trainings) < 3:
        done, _ = churn(*train, timeout=180)
        assert done.returncode == 0, done.stderr
        trainings.append(done)
        runs = Tracked(store, trainings, done, list(ids)).runs("train")
        if len(runs) > 1 and identity(runs[-1]) == identity(runs[-2]):
            break
    scored, _ = churn(
        "score", "--data", str(world), "--as-of", AS_OF, "--out", str(var / "out"),
        "--var-dir", str(var),
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    return Tracked(store, trainings, scored, list(ids))


@pytest.mark.slow
def test_the_experiment_opens_on_its_runs_and_describes_itself(tracked) -> None:
    (experiment,) = tracked.client().search_experiments(filter_string=f"name = '{MODEL}'")
    # mlflow 3's UI opens a "Machine learning" experiment on its runs, not the GenAI overview.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    description = experiment.tags["mlflow.note.content"]
    assert "train synthetic <latest cutoff>" in description and "score synthetic" in description


@pytest.mark.slow
def test_runs_are_named_and_the_training_data_is_a_dataset_without_rows(tracked, tmp_path):
    runs = tracked.runs("train")
    first = runs[0]
    fingerprint = json.loads(tracked.artifact(first.info.run_id, "data/fingerprint.json", tmp_path))
    name = f"train synthetic {fingerprint['data']['date_range'][1]}"
    assert [run.info.run_name for run in runs] == [name] * len(tracked.trainings)
    (night,) = tracked.runs("score")
    assert night.info.run_name == f"score synthetic {AS_OF}"

    inputs = tracked.client().get_run(first.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset, tags = inputs[0].dataset, {tag.key: tag.value for tag in inputs[0].tags}
    assert dataset.name == "synthetic" and tags["mlflow.data.context"] == "training"
    assert dataset.digest == first.data.tags["data_hash"] == fingerprint["data"]["hash"]
    assert dataset.profile is None  # no row, no row count pretending to be the data
    columns = [column["name"] for column in json.loads(dataset.schema)["mlflow_colspec"]]
    assert "customer_id" in columns and "churned" in columns
    assert tags["rows"] == str(fingerprint["data"]["rows"])
    recorded = json.dumps([dataset.to_dictionary(), tags])
    assert not [cid for cid in tracked.customer_ids if cid in recorded]


@pytest.mark.slow
def test_an_identical_retrain_registers_no_new_version(tracked) -> None:
    runs = tracked.runs("train")
    if identity(runs[-1]) != identity(runs[-2]):
        # Only an edit of the code during the test may tell them apart: the same data and config
        # must hash alike, or no retrain would ever be found identical.
        assert identity(runs[-1])[:2] == identity(runs[-2])[:2]
        pytest.skip("features/ or models/ changed between each pair of trainings")
    client = tracked.client()
    versions = client.search_model_versions(f"name = '{MODEL}'")
    # One version per distinct data, config and code: the last training registered none.
    assert len(versions) == len({identity(run) for run in runs}) == len(runs) - 1
    (same,) = [v for v in versions if tuple(v.tags[key] for key in IDENTITY) == identity(runs[-1])]
    said = f"identical to version {same.version}: not registered again"
    assert said in tracked.trainings[-1].stdout, tracked.trainings[-1].stdout
    assert f"v{same.version} -> identical" in tracked.trainings[-1].stdout
    tags = runs[-1].data.tags
    assert tags["mlflow.note.content"].startswith(said)
    assert tags["gate.status"] == "identical" and tags["model_version"] == f"{MODEL}/{same.version}"
    history = json.loads(client.get_registered_model(MODEL).tags["promotion_history"])
    assert len(history) == len(versions)


@pytest.mark.slow
def test_version_description_and_a_readable_promotion_history(tracked, tmp_path) -> None:
    first = tracked.runs("train")[0]
    client = tracked.client()
    description = client.get_model_version(MODEL, "1").description
    metrics = first.data.metrics
    for label, name in [("ROC AUC", "roc_auc"), ("PR AUC", "pr_auc"), ("log loss", "log_loss")]:
        assert f"{label} {metrics[f'test_{name}']:.4f}" in description, description
    assert f"ECE {metrics['test_ece']:.4f}" in description
    assert "Promotion gate: champion: no current champion" in description
    history = tracked.artifact(first.info.run_id, "promotion/promotion_history.md", tmp_path)
    assert "| v1 | champion | none | none | no current champion |" in history
    entries = json.loads(
        tracked.artifact(first.info.run_id, "promotion/promotion_history.json", tmp_path)
    )
    assert [(e["version"], e["status"]) for e in entries] == [("1", "champion")]
    champion = client.get_model_version_by_alias(MODEL, "champion").version
    model = client.get_registered_model(MODEL).description
    assert f"(now v{champion})" in model and "| v1 | champion | none | none |" in model


@pytest.mark.slow
def test_the_night_is_a_scoring_run_with_its_numbers(tracked) -> None:
    (night,) = tracked.runs("score")
    assert f"mlflow:  run {night.info.run_id}" in tracked.scored.stdout
    assert night.info.status == "FINISHED"
    tags, metrics = night.data.tags, night.data.metrics
    champion = tracked.client().get_model_version_by_alias(MODEL, "champion").version
    assert tags["model_version"] == f"{MODEL}/{champion}" and tags["as_of"] == AS_OF
    assert tags["drift.status"] in {"ok", "warn"} and tags["feed.status"] == "healthy"
    assert metrics["rows"] > 0 and metrics["rows"] == metrics["active_customers"]
    tiers = [metrics[f"tier_{tier}_customers"] for tier in ("high", "medium", "other")]
    assert sum(tiers) == metrics["rows"]
    for name in ("tier_high_control", "tier_high_expected_profit", "drift_score_psi"):
        assert name in metrics
    assert metrics["seconds_total"] > 0 and metrics["seconds_features"] > 0
    run = tracked.client().get_run(night.info.run_id)
    (scoring,) = run.inputs.dataset_inputs
    assert {tag.key: tag.value for tag in scoring.tags}["mlflow.data.context"] == "scoring"
    assert [model.model_id for model in run.inputs.model_inputs]  # the registered model
    note = tags["mlflow.note.content"]
    assert not [cid for cid in tracked.customer_ids if cid in json.dumps([tags, note])]
