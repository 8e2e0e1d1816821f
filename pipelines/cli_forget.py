"""`churn forget`: a customer's right to be forgotten, across everything the project wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import VarDirOption, console, friendly_errors


@friendly_errors
def forget(
    customers: Annotated[
        Path, typer.Option("--customers", help="Text file with one customer id a line.")
    ],
    var_dir: VarDirOption = Path("var"),
    scores: Annotated[
        list[Path] | None,
        typer.Option(
            "--scores",
            help="Also this score job's --out folder (or its scores/ folder); repeatable. "
            "Every scores/ folder under --var-dir is found without it.",
        ),
    ] = None,
    features: Annotated[
        list[Path] | None,
        typer.Option(
            "--features",
            help="Also this `churn features --out` file; repeatable. Matrices under --var-dir "
            "are found without it.",
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Erasure log to append to; default VAR_DIR/erasure-log.jsonl."),
    ] = None,
) -> None:
    """Remove customers from every scored day, feature matrix and report written, and append a
    hashed record (never an id) to the erasure log. Datasets are left to their source."""
    from pipelines.forget import run_forget, summary

    out = run_forget(customers, var_dir, scores or [], features or [], log)
    console.print(summary(out), highlight=False, soft_wrap=True, markup=False)
