"""Write outputs atomically: build in a temporary sibling, then rename into place.

A crash (or a validation error) leaves the previous output untouched and no partial file; a rerun
replaces the previous output whole. Published outputs get the modes a plain mkdir or open would
give under the umask (the temporary ones are owner-only), so group and others can read them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.errors import EXIT_USAGE, ChurnError

# Folders churn writes whole carry this file; churn replaces (deletes) no other non-empty folder.
OWNED_MARKER = ".churn-owned"


class NotOwnedError(ChurnError):
    """An output folder holds files churn did not write there; nothing was deleted."""

    exit_code = EXIT_USAGE


def check_owned(target: Path | str) -> None:
    """Refuse a `target` that churn may not replace: not a folder, or a non-empty folder
    without churn's marker."""
    target = Path(target)
    if not os.path.lexists(target):
        return
    folder = target.is_dir() and not target.is_symlink()
    if not folder:
        raise NotOwnedError(
            f"{target} exists and is not a folder, so nothing was deleted: choose an empty or "
            "new folder"
        )
    if not ((target / OWNED_MARKER).is_file() or not any(target.iterdir())):
        raise NotOwnedError(
            f"{target} is not empty and churn did not create it (no {OWNED_MARKER} file), so "
            f"nothing was deleted: choose an empty or new folder, or remove {target} yourself"
        )


def mark_owned(folder: Path, writer: str) -> None:
    """Mark `folder` as churn's (the same bytes every time, so reruns stay identical)."""
    marker = Path(folder) / OWNED_MARKER
    if not marker.is_file():
        temporary = marker.with_name(f"{OWNED_MARKER}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps({"written_by": writer}) + "\n")
        os.replace(temporary, marker)


@contextmanager
def atomic_directory(target: Path | str, writer: str = "churn") -> Iterator[Path]:
    """Yield a temporary directory that replaces `target` only if the block succeeds. The
    result carries churn's marker; an existing `target` without it is refused unless empty."""
    target = Path(target)
    check_owned(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        mark_owned(staging, writer)
        yield staging
        publishable(staging)
        if target.exists():
            # Move the old output aside first so the swap is two renames, never a partial tree.
            retired = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, retired)
            os.rename(staging, target)
            shutil.rmtree(retired)
        else:
            os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path that replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(handle)
    staging = Path(name)
    try:
        yield staging
        publishable(staging)
        os.replace(staging, target)
    finally:
        if staging.exists():
            staging.unlink()


def publishable(path: Path) -> None:
    """Folders 0o777 and files 0o666 less the umask (0o755/0o644 by default), through the tree:
    `mkdtemp` and `mkstemp` create owner-only staging that would otherwise be published as is."""
    mask = os.umask(0o022)  # read the umask by setting it; put it back at once
    os.umask(mask)
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)
