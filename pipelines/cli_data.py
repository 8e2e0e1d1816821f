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
    segment = "segment"
    ga4 = "ga4"


@data_app.command("import")
@friendly_errors
def data_import(
    kind: Annotated[Source, typer.Argument(help="Which dataset or export SRC is.")],
    src: Annotated[
        Path, typer.Argument(help="Source file or folder of parts (see ../shared/data).")
    ],
    out: Annotated[Path, typer.Option(help="Output folder in the data contract.")],
    trait: Annotated[
        list[str] | None,
        typer.Option(
            help="segment: an identify trait to keep as a customers column (latest value), "
            "repeatable. Traits are personal data: none is kept unless named, so name, email "
            "or phone are copied only if you list them."
        ),
    ] = None,
    page_paths: Annotated[
        bool,
        typer.Option(
            "--page-paths",
            help="ga4: name each page_view by its URL path (page_view:/help), query and "
            "fragment dropped, so help and cancel pages can be mapped as signals. Paths can "
            "hold personal data on some sites: off unless asked.",
        ),
    ] = False,
) -> None:
    """Convert a public dataset (CDNOW, BigML telecom, eventsim) or a first-party export into
    the data contract: segment (JSON lines of track/page/screen/identify calls, a file, .gz or
    a folder of parts) or ga4 (the GA4 BigQuery events_* export as JSON lines or Parquet)."""
    from features.importers import import_dataset

    if trait and kind is not Source.segment:
        raise typer.BadParameter("applies to segment imports only", param_hint="--trait")
    console.print(import_dataset(kind.value, src, out, trait or (), page_paths))


@data_app.command("replay")
@friendly_errors
def data_replay(
    world: Annotated[Path, typer.Option(help="A world written by `churn data synth`.")],
    scores: Annotated[
        Path, typer.Option(help="The scores day whose campaign to plant: an as_of= folder.")
    ],
    out: Annotated[Path, typer.Option(help="Output folder for the replayed world.")],
    effect: Annotated[
        list[str] | None,
        typer.Option(
            help="ACTION=MULTIPLIER: the action's factor on a treated customer's daily churn "
            "hazard from the scores day on (1 = no effect, 0.7 = 30% lower). Repeatable."
        ),
    ] = None,
    default_effect: Annotated[
        float | None, typer.Option(min=0.0, help="Multiplier for actions without --effect.")
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(min=1, help="Horizon of the true effect recorded in the truth.")
    ] = 30,
) -> None:
    """Regenerate a synthetic world with a scores day's campaign planted: treated customers of
    tier high/medium (not control) churn less from that day on; the truth records by how much."""
    from features.synth.campaign import parse_effects
    from features.synth.replay import replay_world

    console.print(
        replay_world(
            world,
            scores,
            parse_effects(effect or []),
            out,
            default_effect=default_effect,
            horizon_days=horizon_days,
        )
    )
