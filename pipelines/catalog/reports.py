"""Reports: written atomically and readable by everyone."""

from __future__ import annotations

import logging
from pathlib import Path

from features.atomic import atomic_file

log = logging.getLogger(__name__)


def write_report(text: str, out: Path) -> Path:
    """The HTML report, atomically, readable by everyone (not the temp file's owner-only mode)."""
    with atomic_file(Path(out)) as staging:
        Path(staging).write_text(text, encoding="utf-8")
        staging.chmod(0o644)
    log.info("report written to %s", out)
    return Path(out)
