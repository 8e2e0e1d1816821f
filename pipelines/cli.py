"""The `churn` command line. Config is loaded here, once, and passed down typed.

Every command exits 0 on success and 1 with one readable line on a failure the user can fix.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.logging import RichHandler

from features.errors import ChurnError

app = typer.Typer(
    help="Churn prediction: synthetic data, validation, point-in-time features, training, "
    "nightly scoring with SHAP reason codes, and reports.",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Create or import datasets in the data contract.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)

DataOption = Annotated[
    Path, typer.Option("--data", help="Dataset folder (Parquet/CSV tables) or DuckDB file.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config; defaults to configs/default.yaml (synthetic)."),
]


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in ("alembic", "urllib3", "matplotlib", "numba", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def friendly_errors(func):
    """Turn the errors a user can fix into one red line and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ChurnError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(1)

    return wrapper


def _config(path: Path | None):
    from features.config import load_config

    return load_config(path)


@data_app.command("synth")
@friendly_errors
def data_synth(
    customers: Annotated[int, typer.Option(min=10, help="Number of customers to simulate.")],
    out: Annotated[Path, typer.Option(help="Output folder (replaced atomically).")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 1,
) -> None:
    """Simulate a believable customer world with planted churn signals and its ground truth."""
    from features.synth import write_world

    summary = write_world(out, customers=customers, seed=seed)
    console.print(summary)


class Source(str, Enum):
    cdnow = "cdnow"
    bigml = "bigml"
    eventsim = "eventsim"


@data_app.command("import")
@friendly_errors
def data_import(
    kind: Annotated[Source, typer.Argument(help="Which public dataset SRC is.")],
    src: Annotated[Path, typer.Argument(help="Source file or folder (see ../shared/data).")],
    out: Annotated[Path, typer.Option(help="Output folder in the data contract.")],
) -> None:
    """Convert a public dataset (CDNOW, BigML telecom, eventsim) into the data contract."""
    from features.importers import import_dataset

    summary = import_dataset(kind.value, src, out)
    console.print(summary)


@app.command()
@friendly_errors
def validate(data: DataOption, config: ConfigOption = None) -> None:
    """Check a dataset against the data contract and print a short summary."""
    from features.dataset import open_dataset
    from features.validation import validate_dataset

    cfg = _config(config)
    report = validate_dataset(open_dataset(data), cfg)
    console.print(report.summary_table())


AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Cutoff date (UTC midnight): features from events strictly before it.",
    ),
]


@app.command()
@friendly_errors
def features(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Parquet file for the matrix (written atomically).")],
    config: ConfigOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Build the point-in-time feature matrix: every training cutoff, or one --as-of date."""
    from features.atomic import atomic_file
    from features.dataset import open_dataset
    from features.matrix import build_matrix, build_training_matrix
    from features.validation import validate_dataset

    cfg = _config(config)
    dataset = validate_dataset(open_dataset(data), cfg).dataset
    if as_of is None:
        matrix = build_training_matrix(dataset, cfg)
    else:
        matrix = build_matrix(dataset, cfg, [pd.Timestamp(as_of, tz="UTC")])
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
    console.print(f"{len(matrix):,} rows x {matrix.shape[1]} columns written to {out}")
