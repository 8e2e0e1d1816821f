"""CDNOW, a real ageing customer base, scored on its own test cutoff: the night is published
with a drift warning and "retrain recommended", never failed (its feeds are healthy)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.config import load_config
from features.importers import import_dataset
from pipelines.score import run_score
from tests.fixtures.scoring_fixtures import trained_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "cdnow").is_dir(), reason=f"shared datasets not found at {DATA}"
)


@pytest.mark.slow
@needs_data
def test_cdnow_scored_on_its_test_cutoff_warns_and_recommends_retraining(tmp_path) -> None:
    cfg = load_config(ROOT / "configs" / "cdnow.yaml")
    training = cfg.training.model_copy(update={"trials": 2, "model_name": "churn-cdnow-test"})
    cfg = cfg.model_copy(update={"training": training})
    data = tmp_path / "cdnow"
    import_dataset("cdnow", DATA / "cdnow", data)
    with trained_model(tmp_path, data, cfg) as model:
        night = run_score(data, cfg, pd.Timestamp("1998-01-01", tz="UTC"), tmp_path, model)
    drift = night.manifest.drift
    assert night.manifest.rows == 23_570
    assert drift.status == "warn" and drift.retrain_recommended and drift.failed == []
    assert drift.reference.startswith("training cutoff 1997-")
    assert drift.score >= cfg.scoring.drift_fail_psi  # the cohort aged: the score moved
