"""`churn report`: the HTML report of a scored day, logged to a reporting run of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import (
    ConfigOption,
    ScoredDayOption,
    ScoresOption,
    VarDirOption,
    console,
    friendly_errors,
    load,
)


@friendly_errors
def report(
    scores: ScoresOption,
    out: Annotated[Path, typer.Option(help="HTML file to write (self-contained, atomic).")],
    as_of: ScoredDayOption = None,
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
    """Write the HTML report of a scored day (call list, audience, drivers, trends, backtest)
    and log it to a reporting run of its own in the model's mlflow experiment."""
    from pipelines import catalog
    from pipelines.report import run_report

    cfg = load(config)
    catalog.use_model_store(var_dir, create=False)
    day = f"{as_of:%Y-%m-%d}" if as_of else None
    path = run_report(scores, out, cfg, model=model, data=data, as_of=day, var_dir=var_dir)
    console.print(f"report:  {path.resolve()}", highlight=False, soft_wrap=True)
