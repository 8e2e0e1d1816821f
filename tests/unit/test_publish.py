"""Publishing a scored day: a pointer to immutable versions, one writer per day, cleanup of what
killed runs leave, and no folder replaced that churn did not create."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest

from features.atomic import OWNED_MARKER, NotOwnedError
from pipelines.catalog import DayLockedError, day_lock, load_scores, publish_day, scored_days
from pipelines.catalog.publish import VERSIONS

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")
DAY = "as_of=2026-07-01"


def publish(out: Path, as_of: pd.Timestamp = AS_OF, rows: int = 3, keep: int = 1) -> Path:
    """Publish a day of `rows` rows in two parts; returns the version folder."""
    with publish_day(out, as_of, keep) as staging:
        frame = pd.DataFrame({"customer_id": [f"c{k}" for k in range(rows)], "p": 0.5})
        frame.iloc[:1].to_parquet(staging / "part-00000.parquet", index=False)
        frame.iloc[1:].to_parquet(staging / "part-00001.parquet", index=False)
    return (out / "scores" / f"as_of={as_of:%Y-%m-%d}").resolve()


def versions(out: Path, day: str = DAY) -> list[str]:
    return sorted(p.name for p in (out / "scores" / VERSIONS / day).iterdir())


def test_a_day_is_a_pointer_to_a_complete_version(tmp_path: Path) -> None:
    version = publish(tmp_path, rows=5)
    root = tmp_path / "scores"
    assert (root / DAY).is_symlink() and os.readlink(root / DAY) == f"{VERSIONS}/{DAY}/v-000001"
    assert version == (root / VERSIONS / DAY / "v-000001").resolve()
    assert os.readlink(root / "_latest") == DAY
    assert sorted(p.name for p in (root / DAY).iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    scores, _ = load_scores(tmp_path)
    assert len(scores) == 5 and scored_days(tmp_path) == ["2026-07-01"]
    # Arrow listing the scores folder finds the day's parts once: versions and _latest are hidden.
    files = pads.dataset(root, format="parquet").files
    assert sorted(Path(f).relative_to(root).as_posix() for f in files) == [
        f"{DAY}/part-00000.parquet",
        f"{DAY}/part-00001.parquet",
    ]
    assert json.loads((root / OWNED_MARKER).read_text()) == {"written_by": "churn score"}


def test_reruns_keep_the_previous_version_and_remove_older_ones(tmp_path: Path) -> None:
    for rows in (3, 4, 5):
        publish(tmp_path, rows=rows)
    assert versions(tmp_path) == ["v-000002", "v-000003"]
    assert len(load_scores(tmp_path)[0]) == 5
    publish(tmp_path, rows=6, keep=0)  # e.g. after an erasure: no earlier version stays
    assert versions(tmp_path) == ["v-000004"]


def test_a_failed_publish_leaves_the_day_as_it_was_and_no_staging(tmp_path: Path) -> None:
    before = publish(tmp_path, rows=3)
    with pytest.raises(RuntimeError, match="half way"), publish_day(tmp_path, AS_OF) as staging:
        (staging / "part-00000.parquet").write_bytes(b"half a part")
        raise RuntimeError("half way")
    assert (tmp_path / "scores" / DAY).resolve() == before
    assert versions(tmp_path) == ["v-000001"]
    assert len(load_scores(tmp_path)[0]) == 3


def test_what_a_killed_run_left_goes_on_the_next_run(tmp_path: Path) -> None:
    publish(tmp_path, rows=3)
    area = tmp_path / "scores" / VERSIONS / DAY
    (area / ".staging-v-000002").mkdir()  # killed while writing
    (area / ".staging-v-000002" / "part-00000.parquet").write_bytes(b"partial")
    (area / "v-000003").mkdir()  # killed after naming its version, before pointing at it
    os.symlink("nowhere", tmp_path / "scores" / f".{DAY}.link-99999")  # killed mid-swap
    assert len(load_scores(tmp_path)[0]) == 3  # readers never see any of it
    publish(tmp_path, rows=4)
    assert versions(tmp_path) == ["v-000001", "v-000002"]
    assert os.readlink(tmp_path / "scores" / DAY).endswith("v-000002")
    hidden = sorted(p.name for p in (tmp_path / "scores").iterdir() if ".link-" in p.name)
    assert hidden == []


def test_latest_points_at_the_newest_day_whatever_the_order(tmp_path: Path) -> None:
    publish(tmp_path, AS_OF)
    publish(tmp_path, AS_OF - pd.Timedelta(days=1))
    assert os.readlink(tmp_path / "scores" / "_latest") == DAY
    publish(tmp_path, AS_OF + pd.Timedelta(days=1))
    assert os.readlink(tmp_path / "scores" / "_latest") == "as_of=2026-07-02"


def hold(lock: Path) -> int:
    """Take a day's lock as another process would (a separate open file description)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_second_writer_of_the_day_fails_in_one_line(tmp_path: Path) -> None:
    publish(tmp_path)
    lock = tmp_path / "scores" / f".{DAY}.lock"
    fd = hold(lock)
    try:
        with pytest.raises(DayLockedError) as error, day_lock(tmp_path, AS_OF):
            pass
        message = str(error.value)
        assert "\n" not in message and DAY in message and str(lock) in message
        assert "scoring.wait_for_lock_seconds" in message
        with pytest.raises(DayLockedError), publish_day(tmp_path, AS_OF):
            pass
        publish(tmp_path, AS_OF + pd.Timedelta(days=1))  # other days are not blocked
    finally:
        os.close(fd)
    assert versions(tmp_path) == ["v-000001"]
    with day_lock(tmp_path, AS_OF):  # held by this process: publishing inside reuses it
        publish(tmp_path)
    assert versions(tmp_path) == ["v-000001", "v-000002"]


def test_a_second_writer_waits_when_configured(tmp_path: Path) -> None:
    publish(tmp_path)
    fd = hold(tmp_path / "scores" / f".{DAY}.lock")
    threading.Timer(0.5, os.close, [fd]).start()
    began = time.monotonic()
    with publish_day(tmp_path, AS_OF, wait_seconds=30) as staging:
        (staging / "part-00000.parquet").write_bytes(
            (tmp_path / "scores" / DAY / "part-00000.parquet").read_bytes()
        )
    assert 0.4 < time.monotonic() - began < 10
    assert versions(tmp_path) == ["v-000001", "v-000002"]


def test_a_scores_folder_churn_did_not_create_is_refused_untouched(tmp_path: Path) -> None:
    theirs = tmp_path / "scores"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(NotOwnedError, match="choose an empty or new folder") as error:
        publish(tmp_path)
    assert "\n" not in str(error.value) and str(theirs) in str(error.value)
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
    # A day that is a plain folder (copied in by hand) in churn's own scores folder.
    publish(tmp_path / "ours")
    day = tmp_path / "ours" / "scores" / "as_of=2026-06-30"
    day.mkdir()
    (day / "part-00000.parquet").write_bytes(b"someone's")
    with pytest.raises(NotOwnedError, match="not a day churn published"):
        publish(tmp_path / "ours", AS_OF - pd.Timedelta(days=1))
    assert (day / "part-00000.parquet").read_bytes() == b"someone's"


def earlier_layout(out: Path, days: list[str]) -> None:
    """A scores folder as churn wrote it before days were versioned: plain day folders."""
    for day in days:
        folder = out / "scores" / f"as_of={day}"
        folder.mkdir(parents=True)
        pd.DataFrame({"customer_id": ["c0", "c1"], "p": 0.5}).to_parquet(
            folder / "part-00000.parquet", index=False
        )
        (folder / "manifest.json").write_text(json.dumps({"as_of": day, "rows": 2}))


def test_a_scores_folder_of_an_earlier_churn_is_adopted_not_refused(tmp_path: Path) -> None:
    earlier_layout(tmp_path, ["2026-06-30", "2026-07-01"])
    publish(tmp_path, rows=4)  # republish 2026-07-01 over the adopted folder
    root = tmp_path / "scores"
    assert (root / OWNED_MARKER).is_file()
    assert (root / "as_of=2026-06-30").is_symlink() and versions(tmp_path, "as_of=2026-06-30") == [
        "v-000001"
    ]
    assert versions(tmp_path) == ["v-000001", "v-000002"]
    adopted = (root / "as_of=2026-06-30").resolve()
    assert adopted.parent.name == "as_of=2026-06-30" and adopted.name == "v-000001"
    assert len(pd.read_parquet(adopted / "part-00000.parquet")) == 2
    republished = (root / DAY).resolve()
    assert republished.name == "v-000002" and len(pads.dataset(republished).to_table()) == 4


def test_a_folder_with_other_files_is_still_refused(tmp_path: Path) -> None:
    earlier_layout(tmp_path, ["2026-07-01"])
    (tmp_path / "scores" / "notes.txt").write_text("mine")
    with pytest.raises(NotOwnedError):
        publish(tmp_path)
    assert (tmp_path / "scores" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "scores" / DAY).is_dir() and not (tmp_path / "scores" / DAY).is_symlink()
