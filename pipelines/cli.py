"""The `churn` command line. Config is loaded here, once, and passed down typed.

Every command exits 0 on success and 1 with one readable line on a failure the user can fix.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from enum import StrEnum
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
        except Exception as exc:
            from features.engines import spark_failure

            message = spark_failure(exc)
            if message is None:
                raise
            log.debug("Spark error", exc_info=exc)  # the JVM's stack trace, with --verbose
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives identical files.")
    ] = 1,
) -> None:
    """Simulate a believable customer world with planted churn signals and its ground truth."""
    from features.synth import write_world

    summary = write_world(out, customers=customers, seed=seed)
    console.print(summary)


class Source(StrEnum):
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


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOption = Annotated[
    EngineName, typer.Option("--engine", help="Query engine: embedded DuckDB or a Spark session.")
]
SparkMasterOption = Annotated[
    str, typer.Option("--spark-master", help="Spark master URL for --engine spark.")
]


def _spark_conf(values: list[str] | None) -> dict[str, str]:
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


SparkConfOption = Annotated[
    list[str] | None,
    typer.Option(
        "--spark-conf",
        help="Spark setting KEY=VALUE for --engine spark, repeatable "
        "(local defaults: spark.driver.memory=4g, spark.sql.shuffle.partitions=8).",
    ),
]


@app.command()
@friendly_errors
def features(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Parquet file for the matrix (written atomically).")],
    config: ConfigOption = None,
    as_of: AsOfOption = None,
    engine: EngineOption = EngineName.duckdb,
    spark_master: SparkMasterOption = "local[*]",
    spark_conf: SparkConfOption = None,
) -> None:
    """Build the point-in-time feature matrix: every training cutoff, or one --as-of date."""
    from features.atomic import atomic_file
    from features.matrix import build_matrix, build_training_matrix
    from features.validated import validated_dataset

    cfg = _config(config)
    conf = _spark_conf(spark_conf)
    with validated_dataset(data, cfg, engine.value, spark_master, conf) as dataset:
        if as_of is None:
            matrix = build_training_matrix(dataset, cfg)
        else:
            matrix = build_matrix(dataset, cfg, [pd.Timestamp(as_of, tz="UTC")])
    with atomic_file(out) as staging:
        matrix.to_parquet(staging, index=False)
    console.print(f"{len(matrix):,} rows x {matrix.shape[1]} columns written to {out}")


VarDirOption = Annotated[
    Path,
    typer.Option(
        "--var-dir",
        envvar="CHURN_VAR_DIR",
        help="Folder for generated state: mlflow store, optuna studies, run outputs.",
    ),
]


def _quiet_mlflow() -> None:
    """No artifact progress bars on the terminal (set here, at the CLI edge)."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _use_model_store(var_dir: Path) -> None:
    """Point mlflow tracking and registry at the store under `var_dir` (or MLFLOW_TRACKING_URI)."""
    import mlflow

    from models.registry import tracking_uri

    _quiet_mlflow()
    mlflow.set_tracking_uri(tracking_uri(var_dir))
    mlflow.set_registry_uri(tracking_uri(var_dir))


@app.command()
@friendly_errors
def train(
    data: DataOption,
    config: ConfigOption = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Optuna trials; overrides training.trials.")
    ] = None,
    var_dir: VarDirOption = Path("var"),
) -> None:
    """Tune, train, calibrate, evaluate out of time, register, and run the champion gate."""
    from pipelines.train import run_train

    _quiet_mlflow()
    cfg = _config(config)
    out = run_train(data, cfg, var_dir, trials=trials, config_path=config)
    metrics = out.metrics
    lines = [
        f"mlflow store:   {out.tracking_uri} (experiment {out.experiment})",
        f"mlflow run:     {out.run_id}",
        f"model:          {out.model_name} v{out.model_version} -> {out.status}",
        f"gate:           {out.reason}",
        f"test metrics:   ROC AUC {metrics['roc_auc']:.4f}, PR AUC {metrics['pr_auc']:.4f}, "
        f"log loss {metrics['log_loss']:.4f}, ECE {metrics['ece']:.4f}",
        *(f"{name + ':':<15} {path}" for name, path in out.files.items()),
    ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def evaluate(
    data: DataOption,
    config: ConfigOption = None,
    model: ModelOption = None,
    as_of: AsOfOption = None,
    var_dir: VarDirOption = Path("var"),
) -> None:
    """Print a model's metrics on a labelled cutoff (default: the latest) as JSON on stdout."""
    import json

    from pipelines.train import run_evaluate

    _quiet_mlflow()
    cfg = _config(config)
    cutoff = pd.Timestamp(as_of, tz="UTC") if as_of is not None else None
    result = run_evaluate(data, cfg, var_dir, model=model, as_of=cutoff)
    # stdout carries only the JSON; logs go to stderr.
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


@app.command()
@friendly_errors
def score(
    data: DataOption,
    as_of: Annotated[
        datetime,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Scoring date (UTC midnight): who is active then; features use events before it.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder; scores go to OUT/scores/as_of=DATE/.")],
    config: ConfigOption = None,
    model: ModelOption = None,
    allow_drift: Annotated[
        bool, typer.Option("--allow-drift", help="Score even when PSI exceeds the fail level.")
    ] = False,
    var_dir: VarDirOption = Path("var"),
    engine: EngineOption = EngineName.duckdb,
    spark_master: SparkMasterOption = "local[*]",
    spark_conf: SparkConfOption = None,
) -> None:
    """Score every active customer: calibrated risk, reason codes, value and tiers (atomic)."""
    from pipelines.score import run_score

    cfg = _config(config)
    _use_model_store(var_dir)
    result = run_score(
        data,
        cfg,
        pd.Timestamp(as_of, tz="UTC"),
        out,
        model,
        allow_drift,
        engine=engine.value,
        spark_master=spark_master,
        spark_conf=_spark_conf(spark_conf),
    )
    manifest = result.manifest
    tiers = ", ".join(
        f"{tier} {counts['customers']:,} ({counts['revenue_at_risk']:,.0f} at risk)"
        for tier, counts in manifest["tiers"].items()
    )
    lines = [
        f"scores:  {result.folder} ({manifest['rows']:,} customers)",
        f"model:   {manifest['model']['version']}",
        f"tiers:   {tiers}",
        f"drift:   {manifest['drift']['status']} (score PSI {manifest['drift']['score']})",
        f"time:    {manifest['timings_seconds']['total']:.1f} s",
    ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def report(
    scores: Annotated[
        Path, typer.Option(help="The score job's --out folder (or its scores/ folder).")
    ],
    out: Annotated[Path, typer.Option(help="HTML file to write (self-contained, atomic).")],
    model: Annotated[
        str | None,
        typer.Option(
            help="models:/NAME@ALIAS, models:/NAME/VERSION or a model folder; "
            "default: the model that produced the scores."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Dataset for drivers and retention; default: the one named in the scores.",
        ),
    ] = None,
    config: ConfigOption = None,
    var_dir: VarDirOption = Path("var"),
) -> None:
    """Write the HTML report of churn drivers, tiers and retention, and log it with the model."""
    from pipelines.report import run_report

    cfg = _config(config)
    _use_model_store(var_dir)
    path = run_report(scores, out, cfg, model=model, data=data)
    console.print(f"report:  {path.resolve()}", highlight=False, soft_wrap=True)
