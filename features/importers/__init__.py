"""Importers into the data contract: the public datasets in ../shared/data (cdnow, bigml,
eventsim) and first-party exports (segment, ga4), each writing a dataset folder.

`import_dataset(kind, src, out)` is what `churn data import KIND SRC --out DIR` calls; one module
per source holds its pure conversion steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from features.atomic import check_owned
from features.importers.bigml import import_bigml
from features.importers.cdnow import import_cdnow
from features.importers.common import ImportSourceError, ImportSummary
from features.importers.eventsim import import_eventsim
from features.importers.ga4 import import_ga4
from features.importers.segment import import_segment

IMPORTERS: dict[str, Callable[..., ImportSummary]] = {
    "cdnow": import_cdnow,
    "bigml": import_bigml,
    "eventsim": import_eventsim,
    "segment": import_segment,
    "ga4": import_ga4,
}
TAKES_TRAITS = ("segment",)

__all__ = ["IMPORTERS", "ImportSourceError", "ImportSummary", "import_dataset"]


def import_dataset(
    kind: str, src: Path, out: Path, traits: Sequence[str] = (), page_paths: bool = False
) -> ImportSummary:
    """Convert dataset `kind` at `src` into a dataset folder at `out` (atomically); `traits`
    (segment only) are the identify traits to keep as customers columns, `page_paths` (ga4
    only) names page views by their URL path."""
    importer = IMPORTERS.get(kind)
    if importer is None:
        raise ImportSourceError(f"unknown source kind {kind!r}; choose one of {sorted(IMPORTERS)}")
    if traits and kind not in TAKES_TRAITS:
        raise ImportSourceError(f"--trait applies to {' and '.join(TAKES_TRAITS)} only, not {kind}")
    check_owned(out)  # before reading the source, not after
    if page_paths and kind != "ga4":
        raise ImportSourceError(f"--page-paths applies to ga4 only, not {kind}")
    options = {"traits": tuple(traits)} if traits else {}
    options |= {"page_paths": True} if page_paths else {}
    return importer(Path(src), Path(out), **options)
