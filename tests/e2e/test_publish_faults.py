"""`churn score` killed (SIGKILL) at 20 points of a run, and two runs of one day at once: the day
is always there and complete, a rerun gives the same bytes, one writer per day.

Kill points come from the job's checkpoints (each step of the night and each step of publishing,
`pipelines.catalog.publish.checkpoint`): a process with CHURN_FAULT_KILL_AT=k kills itself at
the k-th. To keep it quick, each lane is a process that imports the job once and forks one
`churn score` per kill point (the same entry point as `python -m pipelines score`)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from features.atomic import OWNED_MARKER
from pipelines.catalog import load_scores
from pipelines.catalog.publish import KILL_AT, TRACE, VERSIONS
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import trained_world

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAY = "as_of=2026-07-01"
# Checkpoints after the day's pointer moved: a run killed there has published its version.
SWAPPED = (
    "publish: day points at the new version",
    "publish: latest moved",
    "publish: old versions removed",
)

# A lane: imports the job once, then for each line "K TRACE" on stdin forks a `churn score`
# that kills itself at checkpoint K (0: never) and answers "exit N" or "signal N".
LANE = r"""
import json, os, sys
import duckdb, ibis, ibis.backends.duckdb, lightgbm, pandera  # what a run imports, once
import mlflow, mlflow.artifacts, mlflow.tracking, mlflow.store.tracking.sqlalchemy_store
import mlflow.store.model_registry.sqlalchemy_store
import features.dataset, features.feed, features.matrix, features.snapshots
import models.registry, models.scoring, pipelines.catalog, pipelines.cli, pipelines.score
from pipelines.catalog.publish import KILL_AT, TRACE
assert __import__("threading").active_count() == 1  # nothing running yet: safe to fork

args, log = json.loads(sys.argv[1]), sys.argv[2]
for line in sys.stdin:
    kill_at, trace = line.split()
    pid = os.fork()
    if pid == 0:
        os.environ[KILL_AT] = kill_at
        if trace != "-":
            os.environ[TRACE] = trace
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        try:
            pipelines.cli.app(args, prog_name="churn")
        except SystemExit as done:
            os._exit(done.code if isinstance(done.code, int) else 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    ended = os.WIFSIGNALED(status)
    print(f"signal {os.WTERMSIG(status)}" if ended else f"exit {os.WEXITSTATUS(status)}",
          flush=True)
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An 800-customer world (570 active), a model in a temporary store, the job's arguments."""
    root = tmp_path_factory.mktemp("faults")
    cfg = quick_config(
        "churn-faults",
        max_boost_rounds=40,
        early_stopping_rounds=5,
        shap_sample_rows=100,
        chunk_customers=100,
    )
    with trained_world(root, customers=800, seed=5, cfg=cfg) as (data, model):
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        env = {k: v for k, v in os.environ.items() if k not in (KILL_AT, TRACE)}
        env |= {"MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}
        env |= {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        yield {"root": root, "data": data, "model": model, "config": config, "env": env}


def score_args(world, out: Path, config: Path | None = None) -> list[str]:
    args = ["score", "--data", str(world["data"]), "--as-of", "2026-07-01", "--out", str(out)]
    args += ["--model", world["model"], "--config", str(config or world["config"])]
    return [*args, "--var-dir", str(world["root"] / "var")]


class Lane:
    """One output folder and the process that forks `churn score` runs into it."""

    def __init__(self, world, name: str):
        self.out = world["root"] / name
        self.log = world["root"] / f"{name}.log"
        argv = [sys.executable, "-c", LANE, json.dumps(score_args(world, self.out)), str(self.log)]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=world["env"],
            cwd=REPO,
        )  # fmt: skip

    def start(self, kill_at: int, trace: Path | None = None) -> None:
        self.process.stdin.write(f"{kill_at} {trace or '-'}\n")
        self.process.stdin.flush()

    def ended(self) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], 180)
        assert ready, f"no answer from the lane in 180 s; see {self.log}"
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def day_state(out: Path) -> tuple[str, dict[str, bytes]]:
    """The version the day points at, and its parts; fails unless the day is there, every
    part reads whole and the manifest's row count is the parts' (what a reader gets)."""
    day = out / "scores" / DAY
    assert day.is_symlink() and day.is_dir(), f"{day} is missing"
    folder = day.resolve()
    manifest = json.loads((folder / "manifest.json").read_text())
    parts = sorted(folder.glob("part-*.parquet"))
    assert len(parts) == -(-manifest["rows"] // 100)
    assert sum(pq.read_table(part).num_rows for part in parts) == manifest["rows"] > 500
    scores, read = load_scores(out)
    assert len(scores) == read.rows == manifest["rows"]
    return folder.name, {part.name: part.read_bytes() for part in parts}


def kill_points(trace: Path, count: int = 20) -> list[tuple[int, str]]:
    """`count` checkpoints spread over a run: every publishing one, the rest evenly."""
    lines = trace.read_text().splitlines()
    points = [(int(k), label) for k, label in (line.split(" ", 1) for line in lines)]
    publishing = [p for p in points if p[1].startswith("publish")]
    others = [p for p in points if not p[1].startswith("publish")]
    spread = np.linspace(0, len(others) - 1, count - len(publishing)).round().astype(int)
    chosen = sorted({*publishing, *(others[k] for k in spread)})
    assert len(chosen) == count, chosen
    return chosen


def test_sigkill_at_20_points_never_loses_the_day(world) -> None:
    lanes = [Lane(world, "lane-a"), Lane(world, "lane-b")]
    try:
        trace = world["root"] / "trace.txt"
        lanes[0].start(0, trace)
        lanes[1].start(0)
        assert [lane.ended() for lane in lanes] == ["exit 0", "exit 0"]
        clean = day_state(lanes[0].out)[1]  # a clean run's parts
        points = kill_points(trace)
        labels = [label for _, label in points]
        assert {"model", "predict", "explain", "tiers", "write", *SWAPPED} <= set(labels)
        for round_ in range(0, len(points), 2):
            pair = list(zip(lanes, points[round_ : round_ + 2], strict=True))
            before = {lane: day_state(lane.out)[0] for lane, _ in pair}
            for lane, (k, _) in pair:
                lane.start(k)
            for lane, (k, label) in pair:
                assert lane.ended() == f"signal {signal.SIGKILL}", (k, label)
                version, parts = day_state(lane.out)  # present and complete, old or new
                old = int(before[lane].removeprefix("v-"))
                assert int(version.removeprefix("v-")) == old + (label in SWAPPED), (k, label)
                assert parts == clean
        for lane in lanes:
            lane.start(0)
        assert [lane.ended() for lane in lanes] == ["exit 0", "exit 0"]
        for lane in lanes:
            assert day_state(lane.out)[1] == clean  # the rerun: the same bytes
            root = lane.out / "scores"
            visible = sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock"))
            assert visible == [OWNED_MARKER, VERSIONS, "_latest", DAY]
            kept = sorted(p.name for p in (root / VERSIONS / DAY).iterdir())
            assert len(kept) == 2 and all(name.startswith("v-") for name in kept), kept
    finally:
        for lane in lanes:
            lane.close()


def churn_score(world, out: Path, config: Path | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipelines", *score_args(world, out, config)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=world["env"],
        cwd=REPO,
    )  # fmt: skip


def finished(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=180)
    assert "Traceback" not in stderr, stderr
    return process.returncode, stderr


def holding_the_lock(process: subprocess.Popen, out: Path) -> None:
    """Wait until `process` holds the day's lock (it writes its pid there), then pause it."""
    lock = out / "scores" / f".{DAY}.lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip() == str(process.pid)):
        assert process.poll() is None and time.monotonic() < deadline, "never took the lock"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGSTOP)


def test_a_second_run_of_the_day_fails_in_one_line_or_waits(world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = churn_score(world, out)
    holding_the_lock(first, out)
    try:
        code, stderr = finished(churn_score(world, out))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 1
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and DAY in lines[0] and f".{DAY}.lock" in lines[0], stderr
    assert f"pid {first.pid}" in lines[0]
    assert finished(first)[0] == 0
    day_state(out)
    # With waiting configured, the second run waits for the first and publishes after it.
    config = tmp_path / "wait.yaml"
    raw = yaml.safe_load(world["config"].read_text())
    raw["scoring"]["wait_for_lock_seconds"] = 120
    config.write_text(yaml.safe_dump(raw))
    first = churn_score(world, out, config)
    holding_the_lock(first, out)
    second = churn_score(world, out, config)
    time.sleep(4)  # long enough for the second to be waiting on the lock
    os.kill(first.pid, signal.SIGCONT)
    assert finished(first)[0] == 0 and finished(second)[0] == 0
    assert day_state(out)[0] == "v-000003"


def test_two_runs_started_together_leave_one_whole_day(world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runs = [churn_score(world, out), churn_score(world, out)]
    results = [finished(run) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, stderr in results:
        if code:
            lines = [line for line in stderr.splitlines() if "error:" in line]
            assert len(lines) == 1 and "another run is writing this day" in lines[0], stderr
    version, _ = day_state(out)
    assert version == f"v-00000{codes.count(0)}"
    assert pd.Timestamp(load_scores(out)[1].as_of) == pd.Timestamp("2026-07-01")
