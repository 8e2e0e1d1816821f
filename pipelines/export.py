"""The call list of a scored day, as a CSV for a CRM (`churn export`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.config import Config
from models.decisions import call_list
from pipelines import catalog


def run_export(
    scores: Path,
    out: Path,
    cfg: Config,
    as_of: str | None = None,
    top: int | None = None,
    tiers: list[str] | None = None,
) -> tuple[Path, int, str]:
    """Write `out` from the day's scores (default: the latest day), only `tiers` if given;
    return it, its rows and the day. Money is in the currency the day was scored in (its
    manifest), whatever today's config says."""
    scores_of_day, manifest = catalog.load_decided_scores(scores, as_of)
    scored = f"{pd.Timestamp(scores_of_day['as_of'].iloc[0]):%Y-%m-%d}"
    currency = (manifest.currency if manifest else None) or cfg.decisions.currency
    if tiers:
        scores_of_day = scores_of_day[scores_of_day["tier"].isin(tiers)]
    rows = call_list(scores_of_day, top, currency)
    catalog.write_csv(rows, out)
    return out, len(rows), scored
