"""Feature benchmark: the 6-cutoff training matrix on DuckDB against the Polars and pandas
references (straightforward per-cutoff code in each), on one world in one run.

Each engine runs in a fresh subprocess, so its wall time and peak RSS are its own. The child
times everything from opening the data to the finished pandas matrix (interpreter start and
imports excluded, the same for all), then reports its peak RSS, a few checksums of the whole
matrix, and the rows of a sample of customers, which the parent compares with DuckDB's. Each
reference's ratio is its wall time over DuckDB's in the same run.

    python -m benchmarks.features [--customers 1000000] [--engines duckdb,polars] [--sample 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
from rich.console import Console
from rich.table import Table

from benchmarks.worlds import ROOT, ensure_world, world_name
from features.config import Config, load_config

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "polars", "pandas")
CUTOFFS = 6
# How many times faster than each reference DuckDB must be (#17), and its own ceilings at 1M.
SPEED_TARGETS = {"polars": 3.0, "pandas": 20.0}
WALL_TARGET_S = 45.0
MEMORY_TARGET_MB = 3 * 1024
RTOL = 1e-9


def bench_config(config: Path | None, cutoffs: int) -> Config:
    """The default (or given) config with `snapshots.count` cutoffs."""
    cfg = load_config(config)
    return cfg.model_copy(update={"snapshots": cfg.snapshots.model_copy(update={"count": cutoffs})})


def count_events(folder: Path) -> int:
    """Rows of the events table, from the Parquet footers."""
    single = folder / "events.parquet"
    return pads.dataset(single if single.is_file() else folder / "events").count_rows()


def world_name_of(folder: Path) -> str:
    """The results file's tag for a world: its folder name."""
    return Path(folder).name


def sample_customers(folder: Path, n: int, seed: int = 0) -> list[str]:
    """A seeded random sample of customer ids."""
    ids = pd.read_parquet(folder / "customers.parquet", columns=["customer_id"])["customer_id"]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(ids), size=min(n, len(ids)), replace=False)
    return sorted(ids.iloc[picked].tolist())


# ---- child: one engine in its own process ------------------------------------------------------


def _build(engine: str, data: Path, cfg: Config, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    if engine == "duckdb":
        from features.dataset import open_dataset
        from features.matrix import build_training_matrix

        return build_training_matrix(open_dataset(data), cfg)
    if engine == "polars":
        from benchmarks.polars_reference import polars_matrix

        return polars_matrix(data, cfg, cutoffs)
    from benchmarks.pandas_reference import read_world, reference_matrix

    customers, events = read_world(data)
    return reference_matrix(customers, events, cfg, cutoffs)


def checksums(matrix: pd.DataFrame) -> dict[str, list[float]]:
    """Per numeric column of the whole matrix: sum (NaN skipped) and NaN count."""
    numeric = matrix.select_dtypes("float64")
    return {c: [float(numeric[c].sum()), float(numeric[c].isna().sum())] for c in numeric}


def run_child(args: argparse.Namespace) -> None:
    """Build the matrix with one engine; write timings, peak RSS, checksums and sample rows."""
    cfg = bench_config(args.config, args.cutoffs)
    spec = json.loads(Path(args.spec).read_text())
    cutoffs = [pd.Timestamp(c) for c in spec["cutoffs"]]
    started = time.perf_counter()
    matrix = _build(args.child, Path(args.data), cfg, cutoffs)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in KiB on Linux: the high-water mark of this process alone.
    peak_mb = usage.ru_maxrss / 1024
    # CPU time (imports included) tells how much work was done when other jobs share the cores.
    cpu_seconds = usage.ru_utime + usage.ru_stime
    built = sorted(pd.Timestamp(c) for c in matrix["cutoff"].unique())
    sample = matrix[matrix["customer_id"].isin(spec["sample"])]
    sample.to_parquet(Path(args.out).with_suffix(".sample.parquet"), index=False)
    result = {
        "engine": args.child,
        "seconds": seconds,
        "peak_rss_mb": peak_mb,
        "cpu_seconds": cpu_seconds,
        "rows": len(matrix),
        "columns": list(matrix.columns),
        "cutoffs": [c.isoformat() for c in built],
        "checksums": checksums(matrix),
    }
    Path(args.out).write_text(json.dumps(result))


# ---- parent: run both children, compare, report ------------------------------------------------


def _spawn(engine: str, args: argparse.Namespace, spec: Path, out: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.features",
        "--child",
        engine,
        "--data",
        str(args.data),
        "--cutoffs",
        str(args.cutoffs),
        "--spec",
        str(spec),
        "--out",
        str(out),
    ]
    if args.config is not None:
        command += ["--config", str(args.config)]
    log.info("running the %s engine in a fresh process", engine)
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def compare_samples(work: Path, engine: str) -> dict:
    """Whether a reference gave DuckDB's rows for the sampled customers."""
    frames = {
        e: pd.read_parquet(work / f"{e}.sample.parquet")
        .sort_values(["cutoff", "customer_id"])
        .reset_index(drop=True)
        for e in ("duckdb", engine)
    }
    try:
        pd.testing.assert_frame_equal(
            frames["duckdb"], frames[engine], check_exact=False, rtol=RTOL
        )
        problem = None
    except AssertionError as exc:
        problem = str(exc).splitlines()[0:6]
    return {"rows_compared": len(frames["duckdb"]), "equal": problem is None, "problem": problem}


def compare_checksums(duck: dict, ref: dict) -> bool:
    """Whether every column's sum and NaN count over the whole matrix agree."""
    if duck.keys() != ref.keys():
        return False
    return all(np.allclose(duck[c], ref[c], rtol=RTOL, atol=0) for c in duck)


def equality_with(work: Path, results: dict, engine: str, sampled: int) -> dict:
    """How a reference's matrix compares with DuckDB's: sample rows, column sums, shape."""
    duck, ref = results["duckdb"], results[engine]
    return compare_samples(work, engine) | {
        "customers_sampled": sampled,
        "checksums_equal": compare_checksums(duck["checksums"], ref["checksums"]),
        "same_shape": (duck["rows"], duck["columns"]) == (ref["rows"], ref["columns"]),
    }


def summarise(args: argparse.Namespace, events: int, results: dict, equality: dict) -> dict:
    """The JSON record of the run: each reference's ratios against DuckDB and the targets."""
    for r in results.values():
        r["events_per_second"] = events / r["seconds"]
        r.pop("checksums", None)
        r.pop("columns", None)
    duck = results["duckdb"]
    ratios = {
        engine: {
            "speedup": results[engine]["seconds"] / duck["seconds"],
            "memory_ratio": duck["peak_rss_mb"] / results[engine]["peak_rss_mb"],
            "speedup_target": SPEED_TARGETS[engine],
            "speed_met": results[engine]["seconds"] / duck["seconds"] >= SPEED_TARGETS[engine],
        }
        for engine in results
        if engine != "duckdb"
    }
    import duckdb
    import polars

    return {
        "benchmark": "features",
        "command": " ".join(["python -m benchmarks.features", *args.argv]),
        "data": str(args.data),
        "customers": pads.dataset(Path(args.data) / "customers.parquet").count_rows(),
        "events": events,
        "cutoffs": duck["cutoffs"],
        "rows": duck["rows"],
        "results": results,
        "ratios": ratios,
        "duckdb_targets": {
            "wall_s_at_most": WALL_TARGET_S,
            "peak_rss_mb_at_most": MEMORY_TARGET_MB,
            "wall_met": duck["seconds"] <= WALL_TARGET_S,
            "memory_met": duck["peak_rss_mb"] <= MEMORY_TARGET_MB,
        },
        "equality": equality,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": args.load_at_start,
            "load_average_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "duckdb": duckdb.__version__,
            "polars": polars.__version__,
        },
    }


def single_engine_record(args: argparse.Namespace, events: int, results: dict) -> dict:
    """The JSON record of a run of one engine alone (no ratios, no comparison)."""
    for r in results.values():
        r["events_per_second"] = events / r["seconds"]
        r.pop("checksums", None)
        r.pop("columns", None)
    return {
        "benchmark": "features",
        "command": " ".join(["python -m benchmarks.features", *args.argv]),
        "data": str(args.data),
        "events": events,
        "results": results,
        "load_average_at_start": args.load_at_start,
        "load_average_at_end": os.getloadavg(),
    }


LABELS = {
    "duckdb": "DuckDB (build_training_matrix)",
    "polars": "Polars reference",
    "pandas": "pandas reference",
}


def render(record: dict) -> Table:
    """The rich table of the run."""
    table = Table(
        title=f"Features, {len(record['cutoffs'])} cutoffs, {record['customers']:,} customers, "
        f"{record['events']:,} events ({record['rows']:,} matrix rows)"
    )
    for column in ("engine", "wall s", "CPU s", "peak RSS MB", "events/s"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    for name, r in record["results"].items():
        table.add_row(
            LABELS[name],
            f"{r['seconds']:.1f}",
            f"{r['cpu_seconds']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
            f"{r['events_per_second']:,.0f}",
        )
    for name, ratio in record["ratios"].items():
        eq = record["equality"][name]
        same = "equal" if eq["equal"] and eq["checksums_equal"] else "DIFFERENT"
        table.add_row(
            f"DuckDB vs {name}",
            f"{ratio['speedup']:.1f}x faster (target >= {ratio['speedup_target']:.0f}x)",
            "",
            f"{ratio['memory_ratio']:.2f}x the memory",
            f"{eq['rows_compared']:,} sample rows {same}",
        )
    return table


def run(args: argparse.Namespace) -> Path:
    """Generate or reuse the world, run both engines, compare, write and print the result."""
    out_dir = Path(args.var) / "bench"
    args.data = Path(args.data) if args.data else out_dir / world_name(args.customers)
    ensure_world(args.data, args.customers, args.seed)
    work = out_dir / "features-work"
    work.mkdir(parents=True, exist_ok=True)
    cfg = bench_config(args.config, args.cutoffs)
    from features.dataset import open_dataset
    from features.snapshots import training_cutoffs

    cutoffs = training_cutoffs(open_dataset(args.data), cfg)
    sample = sample_customers(args.data, args.sample)
    spec = work / "spec.json"
    spec.write_text(json.dumps({"cutoffs": [c.isoformat() for c in cutoffs], "sample": sample}))
    args.load_at_start = os.getloadavg()
    engines = [e for e in ENGINES if e in args.engines.split(",")]
    results = {e: _spawn(e, args, spec, work / f"{e}.json") for e in engines}
    events = count_events(args.data)
    if "duckdb" not in results or len(results) < 2:
        record = single_engine_record(args, events, results)
        path = out_dir / f"features-{'-'.join(engines)}-only.json"
        path.write_text(json.dumps(record, indent=2))
        Console().print(record)
        return path
    equality = {e: equality_with(work, results, e, len(sample)) for e in engines if e != "duckdb"}
    record = summarise(args, events, results, equality)
    path = out_dir / f"features-{world_name_of(args.data)}.json"
    path.write_text(json.dumps(record, indent=2))
    Console().print(render(record))
    return path


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.features", description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="an existing dataset (default: generated)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cutoffs", type=int, default=CUTOFFS)
    parser.add_argument("--sample", type=int, default=2000, help="customers compared")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated subset of duckdb,polars,pandas (DuckDB and at least one "
        "reference for ratios; one engine alone: timings only)",
    )
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--var", type=Path, default=ROOT / "var")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> Path | None:
    """Entry point of `python -m benchmarks.features` (and of `python -m benchmarks`)."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.child:
        run_child(args)
        return None
    return run(args)


if __name__ == "__main__":
    main()
