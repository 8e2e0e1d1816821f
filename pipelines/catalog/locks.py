"""The day's lock: one run writes a day at a time (an flock on a file beside the day)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.errors import ChurnError

HELD: set[Path] = set()  # the day locks this process holds


class DayLockedError(ChurnError):
    """Another run is writing the same day."""


@contextmanager
def exclusive(path: Path, key: Path, name: str, wait_seconds: float) -> Iterator[None]:
    """Hold the flock on the day's lock file, failing (or waiting) if another process has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    waited = f" (waited {wait_seconds:g} s)" if wait_seconds else ""
                    raise DayLockedError(
                        f"scores {name}: another run is writing this day (lock {path} held by "
                        f"pid {holder}){waited}; let it finish and rerun, or set "
                        "scoring.wait_for_lock_seconds to wait"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        HELD.add(key)
        try:
            yield
        finally:
            HELD.discard(key)
    finally:
        os.close(fd)  # releases the lock
