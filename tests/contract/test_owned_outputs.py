"""`--out` never deletes what churn did not create: a non-empty folder without churn's marker is
refused in one line with the fix, and nothing in it is touched."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.atomic import OWNED_MARKER, NotOwnedError
from features.config import load_config
from features.errors import EXIT_USAGE
from pipelines import catalog
from pipelines.cli import app
from pipelines.score import run_score


def someone_elses(folder: Path) -> dict[str, bytes]:
    """A folder with a user's files in it; returns them for comparing afterwards."""
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.tex").write_text("two years of work")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def one_line_refusal(result, folder: Path) -> None:
    assert result.exit_code == EXIT_USAGE, result.output
    lines = [line for line in result.output.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "error:" in lines[0] and "choose an empty or new folder" in lines[0]
    assert "nothing was deleted" in lines[0] and folder.name in lines[0]


def test_synth_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    theirs = tmp_path / "D"
    before = someone_elses(theirs)
    result = CliRunner().invoke(app, ["data", "synth", "--customers", "10", "--out", str(theirs)])
    one_line_refusal(result, theirs)
    assert snapshot(theirs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D"]  # no staging left beside it


def test_synth_writes_into_an_empty_or_its_own_folder(tmp_path: Path) -> None:
    empty = tmp_path / "D"
    empty.mkdir()
    runner = CliRunner()
    for _ in range(2):  # new (empty), then its own: replaced whole
        result = runner.invoke(app, ["data", "synth", "--customers", "10", "--out", str(empty)])
        assert result.exit_code == 0, result.output
    marker = json.loads((empty / OWNED_MARKER).read_text())
    assert marker == {"written_by": "churn data synth"}
    (empty / "stray.txt").write_text("added later")  # inside churn's folder: churn's to replace
    result = runner.invoke(app, ["data", "synth", "--customers", "10", "--out", str(empty)])
    assert result.exit_code == 0 and not (empty / "stray.txt").exists()


def tiny_cdnow(folder: Path) -> Path:
    folder.mkdir()
    rows = ["customer_id date number_of_cds dollar_value"]
    rows += [f"{k:05d} 199701{d:02d} 1 {10 + k}.50" for k in range(1, 4) for d in (2, 20)]
    (folder / "CDNOW_master.txt").write_text("\n".join(rows) + "\n")
    return folder


def test_import_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    source = tiny_cdnow(tmp_path / "src")
    theirs = tmp_path / "D"
    before = someone_elses(theirs)
    args = ["data", "import", "cdnow", str(source), "--out", str(theirs)]
    one_line_refusal(CliRunner().invoke(app, args), theirs)
    assert snapshot(theirs) == before
    ours = tmp_path / "ours"
    assert CliRunner().invoke(app, [*args[:-1], str(ours)]).exit_code == 0
    assert json.loads((ours / OWNED_MARKER).read_text()) == {"written_by": "churn data import"}


def test_score_refuses_a_scores_folder_it_did_not_create(tmp_path: Path) -> None:
    theirs = tmp_path / "out" / "scores"
    before = someone_elses(theirs)
    # Refused first thing, before any model or data is read.
    with pytest.raises(NotOwnedError, match="choose an empty or new folder"):
        run_score(tmp_path / "no-data", load_config(), pd.Timestamp("2026-07-01", tz="UTC"),
                  tmp_path / "out", "models:/none/1")  # fmt: skip
    assert snapshot(theirs) == before


def test_backtest_refuses_a_ledger_folder_it_did_not_create(tmp_path: Path) -> None:
    theirs = tmp_path / "backtest"
    before = someone_elses(theirs)
    ledger = pd.DataFrame({"as_of": ["2026-07-01"], "rows": [3]})
    with pytest.raises(NotOwnedError, match="choose an empty or new folder"):
        catalog.write_ledger(ledger, {}, tmp_path)
    assert snapshot(theirs) == before
    folder = catalog.write_ledger(ledger, {}, tmp_path / "new")
    assert json.loads((folder / OWNED_MARKER).read_text()) == {"written_by": "churn backtest"}
