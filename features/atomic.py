"""Write outputs atomically: build in a temporary sibling, then rename into place.

A crash (or a validation error) leaves the previous output untouched and no partial file; a rerun
replaces the previous output whole. Published outputs get the modes a plain mkdir or open would
give under the umask (the temporary ones are owner-only), so group and others can read them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(target: Path | str) -> Iterator[Path]:
    """Yield a temporary directory that replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
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
