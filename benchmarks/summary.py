"""The results of one `make bench`: every benchmark's ratios and targets in one file and table.

Each benchmark writes its own JSON under var/bench (features-<world>.json, scoring.json,
engines.json); this collects those of the current run into var/bench/results.md, the file the
README quotes, and prints it. A benchmark that did not run is named as missing, not skipped.

    python -m benchmarks.summary [--bench-dir var/bench]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from benchmarks.worlds import ROOT

log = logging.getLogger(__name__)

# The matrix's own wall and memory targets are set for the 1M-customer world.
TARGET_CUSTOMERS = 1_000_000


def _met(flag: bool) -> str:
    return "met" if flag else "NOT met"


def feature_lines(record: dict) -> list[str]:
    """One line per engine and one per ratio of a feature benchmark run."""
    duck = record["results"]["duckdb"]
    targets = record["duckdb_targets"]
    lines = [
        f"- Training matrix, {record['customers']:,} customers, {record['events']:,} events, "
        f"{len(record['cutoffs'])} cutoffs (`{record['command']}`): DuckDB "
        f"{duck['seconds']:.1f} s wall, {duck['peak_rss_mb'] / 1024:.2f} GiB peak"
        + (
            f" (target <= {targets['wall_s_at_most']:.0f} s: {_met(targets['wall_met'])}; "
            f"<= {targets['peak_rss_mb_at_most'] / 1024:.0f} GiB: {_met(targets['memory_met'])})"
            if record["customers"] >= TARGET_CUSTOMERS
            else ""
        )
    ]
    for engine, ratio in record["ratios"].items():
        ref = record["results"][engine]
        eq = record["equality"][engine]
        same = "equal" if eq["equal"] and eq["checksums_equal"] else "DIFFERENT"
        lines.append(
            f"  - {engine} reference {ref['seconds']:.1f} s, {ref['peak_rss_mb'] / 1024:.2f} GiB: "
            f"DuckDB {ratio['speedup']:.1f}x faster (target >= {ratio['speedup_target']:.0f}x: "
            f"{_met(ratio['speed_met'])}); {eq['rows_compared']:,} sample rows {same}"
        )
    return lines


def scoring_lines(record: dict) -> list[str]:
    """The nightly job's wall time, memory and explanation exactness."""
    targets, met = record["targets"], record["met"]
    shap = record.get("shap") or {}
    diff = shap.get("shap_max_abs_diff")
    exact = "" if diff is None else f"; explanations max |diff| vs shap.TreeExplainer {diff:.1e}"
    phases = ", ".join(
        f"{k} {v:.1f} s" for k, v in record["timings_seconds"].items() if k != "total"
    )
    return [
        f"- Nightly job, {record['customers']:,} active customers: {record['total_seconds']:.1f} s "
        f"wall ({_met(met['time'])}, target <= {targets['total_seconds']:.0f} s), "
        f"{record['peak_rss_gib']:.2f} GiB peak ({_met(met['memory'])}, target <= "
        f"{targets['peak_rss_gib']} GiB){exact}; phases: {phases}"
    ]


def engine_lines(record: dict) -> list[str]:
    """Spark against DuckDB per step."""
    lines = []
    for step, result in record["steps"].items():
        same = result["same_output"]
        lines.append(
            f"- Spark {record['spark_master']} vs DuckDB, {step} at {record['customers']:,} "
            f"customers: {result['spark_over_duckdb']}x DuckDB's wall time; same output: "
            f"{same.get('equal', same)}"
        )
    return lines


def collect(bench: Path) -> str:
    """The markdown summary of the benchmark files under `bench`."""
    lines = ["# Benchmark results", ""]
    features = sorted(bench.glob("features-world-*.json"))
    for path in features:
        lines += feature_lines(json.loads(path.read_text()))
    if not features:
        lines.append("- features: no results (python -m benchmarks.features did not run)")
    for name, render in (("scoring", scoring_lines), ("engines", engine_lines)):
        path = bench / f"{name}.json"
        if path.is_file():
            lines += render(json.loads(path.read_text()))
        else:
            lines.append(f"- {name}: no results (python -m benchmarks.{name} did not run)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.summary", description=__doc__)
    parser.add_argument("--bench-dir", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    text = collect(args.bench_dir)
    path = args.bench_dir / "results.md"
    path.write_text(text)
    Console().print(Markdown(text))
    log.info("written %s", path)
    return path


if __name__ == "__main__":
    main()
