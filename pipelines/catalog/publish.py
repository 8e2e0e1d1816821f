"""Publishing a scored day so that a reader never finds it missing, with one writer per day.

Under `OUT/scores/`:

    .churn-owned                          churn made this folder (it replaces what is inside)
    as_of=2026-07-01 -> .versions/as_of=2026-07-01/v-000002     the day: a symlink
    _latest -> as_of=2026-07-01           the newest scored day
    .versions/as_of=2026-07-01/v-000002/  part-*.parquet + manifest.json, never changed
    .as_of=2026-07-01.lock                held (flock) by the run writing that day

A run writes its version in a staging folder beside the others, flushes it to disk, renames it to
its version name, then points the day at it with `os.replace` of a temporary symlink: the day is
the old version or the new one, never absent. Versions beyond the `keep` before the published
one are removed only after the pointer moved; what a killed run left (staging, a version never
pointed at) goes at the start of the day's next run, under the lock. Readers resolve the day once
(`resolve_day`) and read that folder, which stays while `keep` >= 1 and at most one publish of
the day happens during the read. Arrow and Spark skip names starting with `.` or `_` when they
list a folder, so a listing of `OUT/scores/` finds each day's published parts once.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from features.atomic import OWNED_MARKER, NotOwnedError, check_owned, mark_owned
from pipelines.catalog.locks import HELD, exclusive

VERSIONS = ".versions"
LATEST = "_latest"
# Fault injection, for the tests only: SIGKILL this process at the k-th checkpoint, and/or
# append "k label" per checkpoint to a file. Unset, a checkpoint does nothing.
KILL_AT = "CHURN_FAULT_KILL_AT"
TRACE = "CHURN_FAULT_TRACE"
_checkpoints = itertools.count(1)


def checkpoint(label: str) -> None:
    """A point where the fault-injection tests may kill the run (see KILL_AT, TRACE)."""
    kill_at, trace = os.environ.get(KILL_AT), os.environ.get(TRACE)
    if not (kill_at or trace):
        return
    number = next(_checkpoints)
    if trace:
        with open(trace, "a") as handle:
            handle.write(f"{number} {label}\n")
    if kill_at == str(number):
        os.kill(os.getpid(), signal.SIGKILL)


def day_name(as_of: pd.Timestamp | str) -> str:
    return f"as_of={pd.Timestamp(as_of):%Y-%m-%d}"


def resolve_day(root: Path, day: str) -> Path | None:
    """The version folder `root/as_of=DAY` points at now (a plain folder is itself), or None."""
    folder = (Path(root) / f"as_of={day}").resolve()
    return folder if folder.is_dir() else None


def owned_root(out: Path, name: str) -> Path:
    """`out/scores/`, made and marked if new; refused (nothing touched) if it holds files churn
    did not write there, or if the day is a plain folder instead of churn's pointer."""
    root = Path(out) / "scores"
    adopt_earlier_layout(root)
    check_owned(root)
    root.mkdir(parents=True, exist_ok=True)
    mark_owned(root, "churn score")
    entry = root / name
    if os.path.lexists(entry) and not (
        entry.is_symlink() and os.readlink(entry).startswith(f"{VERSIONS}/")
    ):
        raise NotOwnedError(
            f"{entry} is not a day churn published (not a link into {VERSIONS}/), so nothing "
            f"was deleted: move it out of {root} or remove it yourself"
        )
    return root


def adopt_earlier_layout(root: Path) -> None:
    """A scores folder written before days were versioned (plain `as_of=DAY/` folders, each with
    its manifest, and nothing else but the old writer's hidden leftovers) is churn's own: move
    each day into `.versions/` as its first version, point the day at it, and mark the folder."""
    if not root.is_dir() or (root / ".churn-owned").exists():
        return
    entries = list(root.iterdir())
    days = [e for e in entries if e.name.startswith("as_of=") and not e.is_symlink()]
    leftovers = [e for e in entries if e.name.startswith(".as_of=")]
    earlier = all(
        (day / "manifest.json").is_file() and day_name(day.name[6:]) == day.name for day in days
    )
    if not days or not earlier or len(days) + len(leftovers) != len(entries):
        return
    for day in days:
        versions = root / VERSIONS / day.name
        versions.mkdir(parents=True, exist_ok=True)
        os.rename(day, versions / "v-000001")
        point(day, f"{VERSIONS}/{day.name}/v-000001")
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    mark_owned(root, "churn score (adopted a scores folder of an earlier churn)")
    point_latest(root)


@contextmanager
def day_lock(out: Path, as_of: pd.Timestamp, wait_seconds: float = 0.0) -> Iterator[Path]:
    """Hold the day's lock (reentrant in this process); yields `out/scores/`. A second process
    fails at once in one line, or after waiting `wait_seconds` for the first to finish."""
    name = day_name(as_of)
    fresh, new_out = not (Path(out) / "scores").exists(), not Path(out).exists()
    root = owned_root(out, name)
    path = root / f".{name}.lock"
    key = path.resolve()
    if key in HELD:  # the job took it before its checks; publishing takes it again
        yield root
        return
    try:
        with exclusive(path, key, name, wait_seconds):
            yield root
    except BaseException:
        if fresh:  # a failed first run leaves no scores folder behind: nothing written
            _remove_if_only_bookkeeping(root)
            if new_out and Path(out).is_dir() and not any(Path(out).iterdir()):
                Path(out).rmdir()
        raise


def _remove_if_only_bookkeeping(root: Path) -> None:
    """Remove a scores folder this run created if it holds only churn's marker and lock files."""
    entries = list(root.iterdir()) if root.is_dir() else []
    if all(e.name == OWNED_MARKER or e.name.endswith(".lock") for e in entries):
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def publish_version(
    out: Path, as_of: pd.Timestamp, keep: int = 1, wait_seconds: float = 0.0
) -> Iterator[Path]:
    """A staging folder that becomes the day's published version only if the block succeeds."""
    name = day_name(as_of)
    with day_lock(out, as_of, wait_seconds) as root:
        versions = root / VERSIONS / name
        versions.mkdir(parents=True, exist_ok=True)
        link = root / name
        current = os.readlink(link).rsplit("/", 1)[-1] if link.is_symlink() else None
        prune(versions, current, keep)  # what a killed run left
        for temporary in root.glob(f".{name}.link-*"):
            temporary.unlink()
        numbers = [int(v.name[2:]) for v in versions.glob("v-*") if v.name[2:].isdigit()]
        version = f"v-{max(numbers, default=0) + 1:06d}"
        staging = versions / f".staging-{version}"
        staging.mkdir()
        try:
            yield staging
            checkpoint("publish: staging complete")
            flush(staging)
            os.rename(staging, versions / version)
            flush(versions)
            checkpoint("publish: version named")
            point(link, f"{VERSIONS}/{name}/{version}")
            checkpoint("publish: day points at the new version")
            point_latest(root)
            checkpoint("publish: latest moved")
            prune(versions, version, keep)
            checkpoint("publish: old versions removed")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def prune(versions: Path, current: str | None, keep: int) -> None:
    """Keep `current` and the `keep` versions before it; remove the rest (older versions, and
    staging or versions never pointed at, which only a killed run leaves)."""
    older = sorted(v.name for v in versions.glob("v-*") if current and v.name < current)
    kept = {current, *(older[len(older) - keep :] if keep else [])}
    for folder in sorted(versions.iterdir()):
        if folder.name.startswith(".staging-") or (
            folder.name.startswith("v-") and folder.name not in kept
        ):
            shutil.rmtree(folder)


def point(link: Path, target: str) -> None:
    """Make `link` a symlink to `target`, atomically: a reader sees the old or the new target."""
    temporary = link.parent / f".{link.name}.link-{os.getpid()}"
    if os.path.lexists(temporary):
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)
    sync(link.parent)


def point_latest(root: Path) -> None:
    """`_latest` -> the newest published day (under its own lock: days publish in parallel)."""
    fd = os.open(root / f".{LATEST}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for temporary in root.glob(f".{LATEST}.link-*"):
            temporary.unlink()
        days = sorted(p.name for p in root.glob("as_of=*") if p.is_symlink() and p.is_dir())
        link = root / LATEST
        if days and (not link.is_symlink() or os.readlink(link) != days[-1]):
            point(link, days[-1])
    finally:
        os.close(fd)


def flush(path: Path) -> None:
    """fsync a folder's files and the folder itself, so a renamed name never names lost data."""
    for item in sorted(path.iterdir()) if path.is_dir() else []:
        if item.is_file() and not item.is_symlink():
            sync(item)
    sync(path)


def sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
