"""`churn export`: the call list of a scored day for a CRM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import (
    ConfigOption,
    ScoredDayOption,
    ScoresOption,
    console,
    friendly_errors,
    load,
)


@friendly_errors
def export(
    scores: ScoresOption,
    out: Annotated[Path, typer.Option(help="CSV file to write (replaced whole, atomically).")],
    as_of: ScoredDayOption = None,
    top: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N customers by expected profit; default: all."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the day's call list, ranked by expected profit: customer id, tier, action, reasons
    in words, value, churn probability, expected profit. Customers held out as the control group
    and the "other" tier are never in it; the scores keep everyone."""
    from pipelines.export import run_export

    day = None if as_of is None else f"{as_of:%Y-%m-%d}"
    path, rows = run_export(scores, out, load(config), day, top)
    console.print(f"call list: {rows:,} customers -> {path.resolve()}", highlight=False)
