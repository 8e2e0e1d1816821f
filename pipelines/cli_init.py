"""`churn init`: a starter config proposed from a dataset (the logic is features.init_config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import console, friendly_errors


@friendly_errors
def init(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder or DuckDB file.")],
    out: Annotated[Path, typer.Option("--out", help="YAML config to write (atomically).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            help="YAML with a data: section mapping your export onto the contract (column "
            "names, table paths, time zone); copied into the written config.",
        ),
    ] = None,
) -> None:
    """Profile a dataset and write a commented starter config proposed from it."""
    from pipelines.init_config import write_starter_config

    for line in write_starter_config(data, out, force, sources):
        console.print(line, highlight=False, soft_wrap=True, markup=False)
