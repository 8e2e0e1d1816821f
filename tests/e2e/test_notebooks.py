"""The notebooks run top to bottom on a small synthetic world, and are kept without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.fixtures.report_fixtures import ReportWorld, session_folder, shared_report_world

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-explore-data.ipynb", "02-review-churn-drivers.ipynb")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ReportWorld:
    return shared_report_world(session_folder(tmp_path_factory))


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name: str):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook with no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name: str, world: ReportWorld, tmp_path, monkeypatch):
    # The kernel inherits these; the parameters cell reads them.
    monkeypatch.setenv("CHURN_DATA", str(world.data))
    monkeypatch.setenv("CHURN_SCORES", str(world.scores))
    monkeypatch.setenv("CHURN_MODEL", str(world.model))
    monkeypatch.setenv("CHURN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS.parent)}},
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 2, "the notebook should show its figures"
