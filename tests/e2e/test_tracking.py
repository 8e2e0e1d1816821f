"""The tracking store, bounded and honest, as a scheduler runs the jobs (separate processes).

A server that refuses or never answers fails `churn score` within 30 s in one line naming it;
two first `churn train` on a fresh store both finish (or one fails in one line), every promotion
was compared with the champion of its moment, and a model folder scores with no server at all.
The gate's re-read under the lock, made deterministic, is at the end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
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
    args = [str(CHURN), "train", "--data", str(world), "--trials", "1", "--var-dir", str(var)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURN_"))}
    runs = [
        subprocess.Popen(args, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
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
