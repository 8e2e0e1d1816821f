"""What the benchmarks share: the synthetic worlds they run on and the `churn` CLI as a child.

Worlds live under var/bench/world-1m, world-200k, ... and are written once, then reused.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def world_name(customers: int) -> str:
    """Folder name of a benchmark world: world-1m, world-200k, world-500."""
    if customers % 1_000_000 == 0:
        return f"world-{customers // 1_000_000}m"
    if customers % 1000 == 0:
        return f"world-{customers // 1000}k"
    return f"world-{customers}"


def churn(*args: str, env: dict | None = None) -> None:
    """Run the `churn` CLI in a subprocess (its memory is not this process's)."""
    command = [sys.executable, "-m", "pipelines", *args]
    log.info("running %s", " ".join(command[2:]))
    subprocess.run(command, check=True, cwd=ROOT, env=env)


def ensure_world(folder: Path, customers: int, seed: int) -> None:
    """Write the synthetic world unless a complete one is already there."""
    if (folder / "customers.parquet").is_file():
        log.info("reusing the synthetic world in %s", folder)
        return
    churn("data", "synth", "--customers", str(customers), "--seed", str(seed), "--out", str(folder))


def use_bench_store(bench: Path) -> dict[str, str]:
    """Point this process and its children at the benchmark's own mlflow store; their env."""
    (bench / "mlflow").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{(bench / 'mlflow').resolve()}/mlflow.db")
    os.environ.update(env)
    return env
