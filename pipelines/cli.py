"""The `churn` command line: config loaded once here and passed down typed; options, logging
and error handling (one readable line and an exit code per failure) in `pipelines.cli_options`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from pipelines.cli_data import data_app
from pipelines.cli_export import export
from pipelines.cli_forget import forget
from pipelines.cli_init import init
from pipelines.cli_options import (
    AsOfOption,
    ConfigOption,
    DataOption,
    EngineName,
    EngineOption,
    ModelOption,
    OneLineErrors,
    SparkConfOption,
    SparkMasterOption,
    VarDirOption,
    bound_tracking_requests,
    console,
    forbid_pickle,
    friendly_errors,
    load,
    parse_spark_conf,
    setup_logging,
)
from pipelines.cli_report import report
from pipelines.cli_score import score

app = typer.Typer(
    help="Churn prediction: synthetic data, validation, point-in-time features, training, "
    "nightly scoring with SHAP reason codes, and reports.",
    no_args_is_help=True,
    add_completion=False,
    cls=OneLineErrors,
)
app.add_typer(data_app, name="data")
app.command("export")(export)
app.command("forget")(forget)
app.command("init")(init)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)
    forbid_pickle()
    bound_tracking_requests()


@app.command()
@friendly_errors
def validate(data: DataOption, config: ConfigOption = None) -> None:
    """Check a dataset against the data contract and print a short summary."""
    from pipelines import catalog

    cfg = load(config)
    report = catalog.validation_report(data, cfg)
    console.print(report.summary_table())


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
    from features.matrix import build_matrix, build_training_matrix
    from pipelines import catalog

    cfg = load(config)
    conf = parse_spark_conf(spark_conf)
    with catalog.dataset(data, cfg, engine.value, spark_master, conf) as dataset:
        if as_of is None:
            matrix = build_training_matrix(dataset, cfg)
        else:
            matrix = build_matrix(dataset, cfg, [pd.Timestamp(as_of, tz="UTC")])
    catalog.write_matrix(matrix, out)
    console.print(f"{len(matrix):,} rows x {matrix.shape[1]} columns written to {out}")


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

    cfg = load(config)
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
    from pipelines.evaluate import run_evaluate

    cfg = load(config)
    cutoff = pd.Timestamp(as_of, tz="UTC") if as_of is not None else None
    result = run_evaluate(data, cfg, var_dir, model=model, as_of=cutoff)
    # stdout carries only the JSON; logs go to stderr.
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


app.command("score")(score)


app.command("report")(report)


@app.command()
@friendly_errors
def backtest(
    data: DataOption,
    scores: Annotated[
        Path, typer.Option(help="The score job's --out folder (or its scores/ folder).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: --var-dir); writes OUT/backtest/")
    ] = None,
    config: ConfigOption = None,
    var_dir: VarDirOption = Path("var"),
) -> None:
    """Join past nightly scores to the outcomes that matured since: one ledger row per night
    (pending nights with their expected churners); exit 6 if a night recommends retraining."""
    from pipelines.backtest import ledger_table, run_backtest

    result = run_backtest(data, scores, out or var_dir, load(config), var_dir)
    console.print(ledger_table(result.ledger))
    console.print(f"ledger:  {result.folder.resolve()}", highlight=False, soft_wrap=True)
    result.raise_if_flagged()
