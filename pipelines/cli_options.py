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
from rich.text import Text
from typer.core import TyperGroup

from features.errors import EXIT_FAILURE

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
ScoresOption = Annotated[
    Path, typer.Option(help="The score job's --out folder (or its scores/ folder).")
]
ScoredDayOption = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="The scored day; default: the latest."),
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
    # urllib3 warns on every retry of an mlflow request; the failure itself says it in one line.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


# mlflow 3 waits 120 s per request and retries 7 times with backoff (minutes against a dead
# server); a nightly job should fail fast instead. Defaults only: the environment can raise them.
TRACKING_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def bound_tracking_requests() -> None:
    for name, value in TRACKING_DEFAULTS.items():
        os.environ.setdefault(name, value)


def forbid_pickle() -> None:
    """No job unpickles a model: our bundles are text and JSON, so mlflow may refuse pickles
    outright. Forced, not defaulted: an inherited `true` does not reopen the door."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


def friendly_errors(func):
    """Turn any failure into one plain line and its exit code (`pipelines.cli_errors`); the
    trace (a JVM's too) is logged at debug level, shown by `churn --verbose <command> ...`."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors (typer's own click): OneLineErrors prints them
        except Exception as exc:
            fail_with(exc)

    return wrapper


def fail_with(exc: BaseException) -> None:
    from pipelines.cli_errors import describe

    log.debug("trace of the failure", exc_info=exc)
    fail(*describe(exc))


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    """One line on stderr, never read as Rich markup ("[us, tz=UTC]" stays), then exit."""
    line = Text("error: ", style="bold red")
    line.append(" ".join(str(message).split()))
    err_console.print(line, highlight=False, soft_wrap=True)
    sys.exit(code)


class OneLineErrors(TyperGroup):
    """The app's group: a usage error (a bad option, a date in the wrong format) is one line
    naming the option and the help to read instead of Rich's box, with click's exit code (2);
    an exception no command caught is one line too."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:  # click's ClickException, as typer bundles it
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # the help itself, as typer does
                sys.exit(exc.exit_code)
            context = getattr(exc, "ctx", None)
            hint = f" (see {context.command_path} --help)" if context is not None else ""
            fail(exc.format_message() + hint, exc.exit_code)
        except typer.Abort:
            fail("aborted")
        except Exception as exc:
            fail_with(exc)
        sys.exit(code if isinstance(code, int) else 0)


def load(config: Path | None):
    """The validated config, loaded once here at the edge."""
    from features.config import load_config

    return load_config(config)
