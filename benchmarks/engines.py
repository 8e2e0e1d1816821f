"""Engine benchmark: the same two jobs on DuckDB and on Spark, on one world of 1M customers.

Runs `churn features` (the training matrix, every cutoff) and `churn score` (one day) once with
`--engine duckdb` and once with `--engine spark --spark-master local[N]`, each a fresh process
started exactly as a user starts it. Reports wall time, the Spark/DuckDB ratio measured in the
same run, the CPU time and peak memory of the whole process tree (Spark's JVM and its Python
workers included), and whether both engines wrote the same rows.

On one machine this measures Spark's overhead per row against an embedded engine on the same
cores; it cannot show how Spark scales across machines (see README, "Running on a Spark cluster").

    python -m benchmarks.engines [--customers 1000000] [--master local[*]] [--steps features,score]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from rich.console import Console
from rich.table import Table

from benchmarks.scoring import ensure_champion
from benchmarks.worlds import ROOT, ensure_world, use_bench_store, world_name

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")
STEPS = ("features", "score")
SAMPLE_SECONDS = 0.5
# Spark explains with one thread per task over other chunks than the local job, and the reason
# contributions then agree to about 1e-17, not bit for bit.
TOLERANCE = 1e-12


def step_command(step: str, engine: str, args: argparse.Namespace, out: Path) -> list[str]:
    """The `churn` command line of one step on one engine."""
    common = ["--data", str(args.data), "--engine", engine, "--spark-master", args.master]
    common += ["--config", str(args.config)] if args.config else []
    if step == "features":
        return ["features", *common, "--out", str(out)]
    # The benchmark model is trained on a small world, so drift is reported, not enforced.
    day = ["--as-of", args.as_of, "--out", str(out), "--var-dir", str(args.bench_dir)]
    return ["score", *common, *day, "--allow-drift"]


def tree_usage(process: psutil.Process, cpu: dict[int, float]) -> int:
    """Resident bytes of the process and all its descendants now; records each one's CPU time."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            with member.oneshot():
                total += member.memory_info().rss
                times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue  # ended between listing and reading
    return total


def run_measured(command: list[str], log_path: Path, env: dict) -> dict:
    """Run `churn <command>` to completion; wall time, sampled tree CPU time and peak RSS."""
    full = [sys.executable, "-m", "pipelines", *command]
    log.info("running %s", " ".join(full[2:]))
    cpu: dict[int, float] = {}
    peak = 0
    with log_path.open("w") as output:
        began = time.perf_counter()
        process = psutil.Popen(full, cwd=ROOT, env=env, stdout=output, stderr=output)
        while process.poll() is None:
            peak = max(peak, tree_usage(process, cpu))
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - began
    if process.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-15:])
        raise RuntimeError(f"churn {command[0]} failed; its log {log_path} ends:\n{tail}")
    return {
        "seconds": round(seconds, 1),
        # Sampled every SAMPLE_SECONDS: a worker that lives shorter than that is not counted.
        "cpu_seconds": round(sum(cpu.values()), 1),
        "peak_rss_gib": round(peak / 1024**3, 2),
        "log": str(log_path),
    }


def compare(duck: pd.DataFrame, spark: pd.DataFrame, keys: list[str]) -> dict:
    """Rows of both engines side by side: labels identical, numbers within `TOLERANCE`."""
    duck, spark = (frame.sort_values(keys, ignore_index=True) for frame in (duck, spark))
    if duck.shape != spark.shape or list(duck.columns) != list(spark.columns):
        return {"rows": [len(duck), len(spark)], "equal": False}
    numbers = list(duck.select_dtypes("number").columns)
    labels = [c for c in duck.columns if c not in numbers]
    gap = np.abs(duck[numbers].to_numpy() - spark[numbers].to_numpy())
    # The same NaNs on both sides count as equal; a NaN on one side only does not.
    same_missing = bool((duck[numbers].isna() == spark[numbers].isna()).all(axis=None))
    max_gap = float(np.nanmax(gap, initial=0.0))
    labels_identical = bool(duck[labels].equals(spark[labels]))
    return {
        "rows": len(duck),
        "labels_identical": labels_identical,
        "max_abs_diff": max_gap,
        "equal": labels_identical and same_missing and max_gap <= TOLERANCE,
    }


def same_output(step: str, duckdb_out: Path, spark_out: Path, as_of: str) -> dict:
    """Compare what both engines wrote: the training matrix, or the day's scores."""
    if step == "features":
        frames = [pd.read_parquet(out) for out in (duckdb_out, spark_out)]
        return compare(*frames, keys=["customer_id", "cutoff"])
    from pipelines.catalog import load_scores

    frames = [load_scores(out, as_of)[0] for out in (duckdb_out, spark_out)]
    return compare(*frames, keys=["customer_id"])


def run(args: argparse.Namespace) -> Path:
    """Run every step on both engines, compare their outputs, print and write the result."""
    bench = args.bench_dir
    args.data = args.data or bench / world_name(args.customers)
    work = bench / "engines"
    work.mkdir(parents=True, exist_ok=True)
    env = use_bench_store(bench)
    ensure_world(args.data, args.customers, args.seed)
    if "score" in args.steps:
        ensure_champion(bench, args.config, args.trials, env)

    record = {
        "customers": args.customers,
        "world": str(args.data),
        "spark_master": args.master,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
        "steps": {},
    }
    for step in args.steps:
        outputs = {
            engine: work / (f"{engine}-features.parquet" if step == "features" else engine)
            for engine in ENGINES
        }
        results = {
            engine: run_measured(
                step_command(step, engine, args, outputs[engine]),
                work / f"{step}-{engine}.log",
                env,
            )
            for engine in ENGINES
        }
        equality = same_output(step, outputs["duckdb"], outputs["spark"], args.as_of)
        record["steps"][step] = {
            **results,
            "spark_over_duckdb": round(
                results["spark"]["seconds"] / results["duckdb"]["seconds"], 2
            ),
            "same_output": equality,
        }
    record["load_average_at_end"] = os.getloadavg()
    Console().print(render(record))
    path = bench / "engines.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def render(record: dict) -> Table:
    table = Table(
        title=f"DuckDB vs Spark {record['spark_master']}, {record['customers']:,} customers, "
        f"{record['machine']['cpus']} cores"
    )
    columns = ("step", "engine", "wall s", "CPU s", "peak RSS GiB", "Spark/DuckDB", "same output")
    for column in columns:
        table.add_column(column, justify="left" if column in ("step", "engine") else "right")
    for step, result in record["steps"].items():
        for engine in ENGINES:
            first = engine == ENGINES[0]
            table.add_row(
                step if first else "",
                engine,
                f"{result[engine]['seconds']:,.0f}",
                f"{result[engine]['cpu_seconds']:,.0f}",
                f"{result[engine]['peak_rss_gib']:.2f}",
                "" if first else f"{result['spark_over_duckdb']:.2f}x",
                "" if first else str(result["same_output"]["equal"]),
            )
    return table


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="default: var/bench/world-1m")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--as-of", default="2026-07-01", help="the day `churn score` scores")
    parser.add_argument("--master", default="local[*]", help="Spark master (local[*]: every core)")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated: features,score")
    parser.add_argument("--trials", type=int, default=5, help="if a benchmark model is trained")
    parser.add_argument("--bench-dir", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    args.steps = [s for s in STEPS if s in args.steps.split(",")]
    if not args.steps:
        parser.error(f"--steps: choose from {','.join(STEPS)}")
    return args


def main(argv: list[str]) -> Path:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return run(parse(argv))


if __name__ == "__main__":
    print(main(sys.argv[1:]))
