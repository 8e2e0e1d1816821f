"""Scoring benchmark: the nightly job on a synthetic world of 1M customers, in one run.

Reports customers per second for features, prediction and explanation, the process's peak RSS
(native memory included: DuckDB, Arrow and LightGBM allocate outside Python), and the explanation
speed against `shap.TreeExplainer` on a sample of the same rows, with the largest difference.

Synthesis and training run in subprocesses before scoring, so the peak RSS read afterwards is the
scoring job's own. The model is the champion of a benchmark mlflow store under var/bench; if there
is none, a small model is trained on a 20k-customer world first.

    python -m benchmarks.scoring [--customers 1000000] [--shap-rows 20000] [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmarks.worlds import ROOT, churn, ensure_world, use_bench_store, world_name
from features.config import load_config

log = logging.getLogger(__name__)

# The nightly job at 1M customers (~700k active), end to end (#17).
TIME_TARGET_SECONDS = 30
MEMORY_TARGET_GIB = 2.0
SPEED_TARGET = 3.0
EQUAL_TOLERANCE = 1e-6


def ensure_champion(bench: Path, config: Path | None, trials: int, env: dict) -> None:
    """Train and register a small model in the benchmark store unless it has a usable champion."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    cfg = load_config(config)
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    try:
        version = MlflowClient().get_model_version_by_alias(cfg.training.model_name, "champion")
        from models.registry import load_bundle

        bundle = load_bundle(f"models:/{cfg.training.model_name}/{version.version}")
        if bundle.spec.extra.get("features_fingerprint") == cfg.features_fingerprint():
            log.info("using champion v%s of the benchmark store", version.version)
            return
    except MlflowException:
        pass
    world = bench / "world-20k"
    ensure_world(world, 20_000, seed=1)
    args = ["train", "--data", str(world), "--trials", str(trials), "--var-dir", str(bench)]
    churn(*args, *(["--config", str(config)] if config else []), env=env)


def peak_rss_gib() -> float:
    """This process's peak resident set size since start or the last `reset_peak` (GiB)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (Linux), so the next phase's peak is its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        log.warning("cannot reset the peak RSS mark: phase peaks include earlier phases")


def compare_with_shap(bundle, sample: pd.DataFrame, threads: int) -> dict:
    """Time LightGBM's native TreeSHAP against shap.TreeExplainer on the same rows."""
    import shap

    from models.contributions import exact_contributions, tree_splits

    matrix = bundle.spec.to_matrix(sample)
    began = time.perf_counter()
    native = bundle.booster.predict(matrix, pred_contrib=True, num_threads=threads)
    native_seconds = time.perf_counter() - began

    # What the job runs: native TreeSHAP once per distinct decision pattern of each tree.
    began = time.perf_counter()
    grouped, computed_share = exact_contributions(
        bundle.booster, matrix, tree_splits(bundle.booster), threads
    )
    grouped_seconds = time.perf_counter() - began

    # As a user calls it: for a LightGBM Booster, shap hands the work to LightGBM itself.
    began = time.perf_counter()
    explainer = shap.TreeExplainer(bundle.booster)
    delegated = np.asarray(explainer.shap_values(matrix))
    delegated_seconds = time.perf_counter() - began

    # shap's own C++ TreeSHAP on the same trees (the generic explainer's algorithm).
    result = {
        "rows": len(sample),
        "trees": bundle.booster.num_trees(),
        "native_seconds": native_seconds,
        "grouped_seconds": grouped_seconds,
        "grouped_computed_share": computed_share,
        "grouped_max_abs_diff_vs_native": float(np.max(np.abs(grouped - native))),
        "shap_seconds": delegated_seconds,
        "shap_max_abs_diff": float(np.max(np.abs(delegated - grouped[:, :-1]))),
        "shap_bias_diff": float(
            np.max(np.abs(grouped[:, -1] - np.asarray(explainer.expected_value).ravel()[0]))
        ),
    }
    own = shap.TreeExplainer(bundle.booster)
    if own.model.trees is not None:
        own.model.model_type = "internal"
        began = time.perf_counter()
        values = np.asarray(own.shap_values(matrix, check_additivity=False))
        result["shap_internal_seconds"] = time.perf_counter() - began
        result["shap_internal_max_abs_diff"] = float(np.max(np.abs(values - grouped[:, :-1])))
        bias = np.asarray(own.expected_value).ravel()[0]
        result["shap_internal_bias_diff"] = float(np.max(np.abs(native[:, -1] - bias)))
    slowest = max(delegated_seconds, result.get("shap_internal_seconds", 0.0))
    result["speedup_vs_shap"] = delegated_seconds / grouped_seconds
    result["speedup_vs_slowest_shap"] = slowest / grouped_seconds
    result["native_speedup_vs_shap"] = delegated_seconds / native_seconds
    return result


def report(result: dict, console: Console) -> None:
    """Print the figures as a table."""
    table = Table(title=f"scoring {result['customers']:,} customers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rate = result["customers_per_second"]
    for step in ("features", "predict", "explain"):
        table.add_row(f"{step} customers/s", f"{rate[step]:,.0f}", "")
    table.add_row("total seconds", f"{result['total_seconds']:.0f}", f"<= {TIME_TARGET_SECONDS}")
    table.add_row("peak RSS GiB", f"{result['peak_rss_gib']:.2f}", f"<= {MEMORY_TARGET_GIB}")
    for phase, gib in result["peak_rss_gib_by_phase"].items():
        table.add_row(f"  peak during {phase}", f"{gib:.2f}", "")
    shap_result = result["shap"]
    table.add_row(
        "  rows computed (pattern groups)", f"{shap_result['grouped_computed_share']:.1%}", ""
    )
    table.add_row(
        "native pred_contrib vs shap.TreeExplainer",
        f"{shap_result['native_speedup_vs_shap']:.2f}x",
        "",
    )
    table.add_row(
        "explain speed vs shap.TreeExplainer",
        f"{shap_result['speedup_vs_shap']:.2f}x",
        f">= {SPEED_TARGET}x",
    )
    if "shap_internal_seconds" in shap_result:
        table.add_row(
            "explain speed vs shap's own TreeSHAP",
            f"{shap_result['shap_internal_seconds'] / shap_result['grouped_seconds']:.2f}x",
            "",
        )
        table.add_row(
            "max |diff| vs shap's own TreeSHAP (categorical splits unsupported)",
            f"{shap_result['shap_internal_max_abs_diff']:.1e}",
            f"<= {EQUAL_TOLERANCE}",
        )
    table.add_row("max |diff| vs shap.TreeExplainer", f"{shap_result['shap_max_abs_diff']:.1e}", "")
    console.print(table)


def main(argv: list[str]) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="default: var/bench/world-1m")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--as-of", default="2026-07-01")
    # One scoring chunk: the comparison runs on the rows as the job sees them.
    parser.add_argument("--shap-rows", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--bench-dir", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    bench = args.bench_dir
    data = args.data or bench / world_name(args.customers)
    env = use_bench_store(bench)
    ensure_world(data, args.customers, args.seed)
    ensure_champion(bench, args.config, args.trials, env)

    from features.contract import as_utc
    from pipelines.score import build_features, lgb_threads, run_score

    cfg = load_config(args.config)
    as_of = as_utc(pd.Timestamp(args.as_of))
    # A seeded sample of the day's feature rows, for the explainer comparison only.
    reset_peak()
    matrix = build_features(data, cfg, as_of).matrix
    features_peak = peak_rss_gib()
    sample = matrix.sample(n=min(args.shap_rows, len(matrix)), random_state=0)
    del matrix
    reset_peak()
    # The nightly job itself, as the scheduler runs it; its manifest holds the step timings.
    outputs = run_score(data, cfg, as_of, bench / "scores-out", allow_drift=True)
    job_peak = peak_rss_gib()
    peak = max(features_peak, job_peak)
    manifest = outputs.manifest
    timings = manifest.timings_seconds
    rows = manifest.rows

    from models.registry import load_bundle

    bundle = load_bundle(manifest.model_uri)
    shap_result = compare_with_shap(bundle, sample, lgb_threads(cfg))
    result = {
        "customers": rows,
        "world": str(data),
        "as_of": args.as_of,
        "model": {"uri": manifest.model_uri, "version": manifest.model_version},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "lightgbm_threads": manifest.lightgbm_threads,
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
        "total_seconds": round(timings["total"], 1),
        "customers_per_second": {
            step: rows / max(timings[step], 1e-9) for step in ("features", "predict", "explain")
        },
        "peak_rss_gib": round(peak, 3),
        # Validation and feature building alone vs the whole job (features, then the chunked
        # prediction, explanation and writing).
        "peak_rss_gib_by_phase": {
            "validate_and_features": round(features_peak, 3),
            "whole_job": round(job_peak, 3),
        },
        "shap": shap_result,
        "targets": {
            "total_seconds": TIME_TARGET_SECONDS,
            "peak_rss_gib": MEMORY_TARGET_GIB,
            "explain_speedup": SPEED_TARGET,
            "max_abs_diff": EQUAL_TOLERANCE,
        },
        "drift": {
            "status": manifest.drift.status,
            "score": manifest.drift.score,
            "warned": manifest.drift.warned,
            "failed": manifest.drift.failed,
        },
        "tiers": manifest.tiers,
    }
    result["met"] = {
        "time": timings["total"] <= TIME_TARGET_SECONDS,
        "memory": peak <= MEMORY_TARGET_GIB,
        "explain_speedup": shap_result["speedup_vs_shap"] >= SPEED_TARGET,
        # shap's own C++ path mis-handles LightGBM categorical splits, so it is shown, not judged.
        "equal_values": shap_result["shap_max_abs_diff"] <= EQUAL_TOLERANCE,
    }
    report(result, Console())
    path = bench / "scoring.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


if __name__ == "__main__":
    print(main(sys.argv[1:]))
