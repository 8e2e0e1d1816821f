"""The saved model: a directory of plain files, loaded without pickle.

model.txt        LightGBM booster, native text format
calibrator.json  calibrator parameters (Platt or isotonic breakpoints)
spec.json        feature names, dtypes, category levels, config fingerprint, code version
reference.json   drift reference (binned training distributions) for PSI
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.errors import ChurnError
from models.calibration import Calibrator
from models.spec import FeatureSpec

log = logging.getLogger(__name__)

FILES = ("model.txt", "calibrator.json", "spec.json", "reference.json")


@dataclass(frozen=True)
class ModelBundle:
    booster: lgb.Booster
    calibrator: Calibrator
    spec: FeatureSpec
    reference: dict

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's log-odds for each row, before calibration."""
        return self.booster.predict(self.spec.to_matrix(frame), raw_score=True)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability for each row."""
        return self.calibrator.apply(self.raw_score(frame))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions per feature plus `bias`; rows sum to the raw score."""
        values = self.booster.predict(self.spec.to_matrix(frame), pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.spec.names, "bias"], index=frame.index)

    def save(self, folder: Path | str) -> Path:
        """Write the four files into `folder` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(self.booster.model_to_string())
        for name, payload in (
            ("calibrator.json", self.calibrator.to_dict()),
            ("spec.json", self.spec.to_dict()),
            ("reference.json", self.reference),
        ):
            (folder / name).write_text(json.dumps(payload, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> ModelBundle:
        """Read a bundle written by `save`: text and JSON only, never pickle."""
        folder = Path(folder)
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise ChurnError(
                f"model folder {folder}: missing {missing}; pass a folder written by churn train"
            )
        booster = lgb.Booster(model_str=(folder / "model.txt").read_text())
        calibrator = Calibrator.from_dict(json.loads((folder / "calibrator.json").read_text()))
        spec = FeatureSpec.from_dict(json.loads((folder / "spec.json").read_text()))
        reference = json.loads((folder / "reference.json").read_text())
        return cls(booster, calibrator, spec, reference)
