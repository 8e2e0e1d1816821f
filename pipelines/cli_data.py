"""`churn data`: create or import datasets in the data contract."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import console, friendly_errors

data_app = typer.Typer(help="Create or import datasets in the data contract.", no_args_is_help=True)


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

    console.print(write_world(out, customers=customers, seed=seed))


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

    console.print(import_dataset(kind.value, src, out))
