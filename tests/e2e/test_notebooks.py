"""The notebooks run top to bottom on a small synthetic world, from the project root and from
notebooks/, with quiet outputs (no download bars, no tqdm warning), and are kept without outputs.

Notebook 02 reads its model from an mlflow store (a download, as a user's champion would be) and
its dataset from a scores manifest that names it relative to the project root, as `churn score
--data var/...` run from the root writes it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.fixtures.report_fixtures import ReportWorld, session_folder, shared_report_world

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01-explore-data.ipynb", "02-review-churn-drivers.ipynb")
NOISE = ("Downloading artifacts", "TqdmWarning", "IProgress not found")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ReportWorld:
    return shared_report_world(session_folder(tmp_path_factory))


@pytest.fixture(scope="module")
def registered(world: ReportWorld, tmp_path_factory) -> tuple[Path, str, Path]:
    """The world's model registered in a store of its own (with its evaluation record, as
    `churn train` logs it), and a copy of the scores whose manifest names the dataset relative
    to the project root; (var folder, model URI, scores folder)."""
    import mlflow
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    from models import registry

    root = tmp_path_factory.mktemp("notebooks")
    var = root / "var"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
        patch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        registry.use_experiment(var, "notebook-model")
        with mlflow.start_run():
            version = registry.log_and_register(world.model, "notebook-model", None, None)
            mlflow.log_artifact(str(world.model.parent / "evaluation.json"), "report")
    scores = root / "out"
    shutil.copytree(world.scores, scores, symlinks=True)
    manifests = {path.resolve() for path in scores.glob("scores/as_of=*/manifest.json")}
    assert manifests
    for manifest in manifests:
        record = json.loads(manifest.read_text())
        record["data"]["source"] = os.path.relpath(world.data, ROOT)  # relative to the root
        manifest.write_text(json.dumps(record))
    return var, f"models:/notebook-model/{version}", scores


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name: str):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook with no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
@pytest.mark.parametrize("folder", [ROOT, NOTEBOOKS], ids=["from-root", "from-notebooks"])
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_quietly(
    name: str, folder: Path, world: ReportWorld, registered, monkeypatch
):
    var, model, scores = registered
    # The kernel inherits these; the parameters cell reads them.
    for key in [key for key in os.environ if key.startswith(("MLFLOW_", "TQDM_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHURN_SCORES", str(scores))
    monkeypatch.setenv("CHURN_MODEL", model)
    monkeypatch.setenv("CHURN_VAR_DIR", str(var))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if name.startswith("01"):
        # Relative to the project root, wherever the notebook runs from.
        monkeypatch.setenv("CHURN_DATA", os.path.relpath(world.data, ROOT))
    else:
        monkeypatch.delenv("CHURN_DATA", raising=False)  # the dataset named in the manifest
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 2, "the notebook should show its figures"
    text = json.dumps([out for out in outputs if "image/png" not in out.get("data", {})])
    assert not [noise for noise in NOISE if noise in text], text[:2000]
