"""The call list of a scored day, as a CSV for a CRM (`churn export`)."""

from __future__ import annotations

from pathlib import Path

from features.config import Config
from models.decisions import call_list
from pipelines import catalog


def run_export(
    scores: Path, out: Path, cfg: Config, as_of: str | None = None, top: int | None = None
) -> tuple[Path, int]:
    """Write `out` from the day's scores (default: the latest day); return it and its rows. Money
    is in the currency the day was scored in (its manifest), whatever today's config says."""
    day, manifest = catalog.load_decided_scores(scores, as_of)
    currency = (manifest.currency if manifest else None) or cfg.decisions.currency
    rows = call_list(day, top, currency)
    catalog.write_csv(rows, out)
    return out, len(rows)
