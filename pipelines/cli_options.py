"""What every `churn` command shares: its options, logging set-up and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from features.errors import EXIT_FAILURE, ChurnError

log = logging.getLogger(__name__)
console = Console()
err_console = Console(stderr=True)

DataOption = Annotated[
    Path, typer.Option("--data", help="Dataset folder (Parquet/CSV tables) or DuckDB file.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config; defaults to configs/default.yaml (synthetic)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="models:/NAME@ALIAS, models:/NAME/VERSION or a model folder; "
        "default: the champion of training.model_name."
    ),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Cutoff date (UTC midnight): features from events strictly before it.",
    ),
]
VarDirOption = Annotated[
    Path,
    typer.Option(
        "--var-dir",
        envvar="CHURN_VAR_DIR",
        help="Folder for generated state: mlflow store, optuna studies, run outputs.",
    ),
]


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOption = Annotated[
    EngineName, typer.Option("--engine", help="Query engine: embedded DuckDB or a Spark session.")
]
SparkMasterOption = Annotated[
    str, typer.Option("--spark-master", help="Spark master URL for --engine spark.")
]
SparkConfOption = Annotated[
    list[str] | None,
    typer.Option(
        "--spark-conf",
        help="Spark setting KEY=VALUE for --engine spark, repeatable "
        "(local defaults: spark.driver.memory=4g, spark.sql.shuffle.partitions=8).",
    ),
]
AllowDriftOption = Annotated[
    bool, typer.Option("--allow-drift", help="Score even when PSI exceeds the fail level.")
]
AllowCodeChangeOption = Annotated[
    bool,
    typer.Option(
        "--allow-code-change",
        help="Score even when the feature code differs from the model's training (the manifest "
        "records it); otherwise retrain.",
    ),
]


def parse_spark_conf(values: list[str] | None) -> dict[str, str]:
    """`--spark-conf KEY=VALUE` options as a dict, refusing anything that is not a Spark key."""
    conf = {}
    for value in values or []:
        key, sep, setting = value.partition("=")
        if not sep or not key.startswith("spark.") or not setting:
            raise typer.BadParameter(
                f"{value!r}: expected KEY=VALUE with a Spark key, e.g. spark.driver.memory=8g",
                param_hint="--spark-conf",
            )
        conf[key] = setting
    return conf


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in ("alembic", "urllib3", "matplotlib", "numba", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def forbid_pickle() -> None:
    """No job unpickles a model: our bundles are text and JSON, so mlflow may refuse pickles
    outright. Forced, not defaulted: an inherited `true` does not reopen the door."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


def friendly_errors(func):
    """Turn the errors a user can fix into one red line and the error's exit code."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ChurnError as exc:
            fail(str(exc), exc.exit_code)
        except Exception as exc:
            from features.engines import spark_failure

            message = spark_failure(exc)
            if message is None:
                raise
            log.debug("Spark error", exc_info=exc)  # the JVM's stack trace, with --verbose
            fail(message)

    return wrapper


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def load(config: Path | None):
    """The validated config, loaded once here at the edge."""
    from features.config import load_config

    return load_config(config)
