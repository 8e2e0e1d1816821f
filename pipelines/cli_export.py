"""`churn export`: the call list of a scored day for a CRM."""

from __future__ import annotations

from enum import StrEnum
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


class ActedTier(StrEnum):
    high = "high"
    medium = "medium"


@friendly_errors
def export(
    scores: ScoresOption,
    out: Annotated[Path, typer.Option(help="CSV file to write (replaced whole, atomically).")],
    as_of: ScoredDayOption = None,
    top: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N customers by expected profit; default: all."),
    ] = None,
    tier: Annotated[
        list[ActedTier] | None,
        typer.Option(help="Only this tier (repeatable), e.g. high for the call centre's list."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the day's call list, ranked by expected profit: customer id, tier, action, reasons
    in words, value, churn probability, expected profit. Customers held out as the control group
    and the "other" tier are never in it; the scores keep everyone."""
    from pipelines.export import run_export

    day = None if as_of is None else f"{as_of:%Y-%m-%d}"
    tiers = [t.value for t in tier] if tier else None
    path, rows, day = run_export(scores, out, load(config), day, top, tiers)
    console.print(f"call list of {day}: {rows:,} customers -> {path.resolve()}", highlight=False)
