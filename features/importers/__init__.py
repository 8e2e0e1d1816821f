"""Importers for the public datasets in ../shared/data, each writing a dataset in the contract.

`import_dataset(kind, src, out)` is what `churn data import {cdnow,bigml,eventsim} SRC --out DIR`
calls; one module per source holds its pure conversion steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from features.atomic import check_owned
from features.importers.bigml import import_bigml
from features.importers.cdnow import import_cdnow
from features.importers.common import ImportSourceError, ImportSummary
from features.importers.eventsim import import_eventsim

IMPORTERS: dict[str, Callable[[Path, Path], ImportSummary]] = {
    "cdnow": import_cdnow,
    "bigml": import_bigml,
    "eventsim": import_eventsim,
}

__all__ = ["IMPORTERS", "ImportSourceError", "ImportSummary", "import_dataset"]


def import_dataset(kind: str, src: Path, out: Path) -> ImportSummary:
    """Convert public dataset `kind` at `src` into a dataset folder at `out` (atomically)."""
    importer = IMPORTERS.get(kind)
    if importer is None:
        raise ImportSourceError(f"unknown source kind {kind!r}; choose one of {sorted(IMPORTERS)}")
    check_owned(out)  # before reading the source, not after
    return importer(Path(src), Path(out))
