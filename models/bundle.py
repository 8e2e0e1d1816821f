"""The saved model: a directory of plain files, loaded without pickle.

model.txt        LightGBM booster, native text format
calibrator.json  calibrator parameters (Platt or isotonic breakpoints)
spec.json        feature names, dtypes, category levels, config fingerprint, code version
reference.json   drift reference (binned training distributions) for PSI
value.txt        optional: the value model (expected revenue, models.value), LightGBM text
checksums.json   SHA-256 of the files above, checked before every load
"""

from __future__ import annotations

import hashlib
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
# Files a bundle may have: checksummed when present, and then required by the checksum record.
OPTIONAL_FILES = ("value.txt",)
CHECKSUMS = "checksums.json"


@dataclass(frozen=True)
class ModelBundle:
    booster: lgb.Booster
    calibrator: Calibrator
    spec: FeatureSpec
    reference: dict
    # The value model (scoring.value.source: expected), None for bundles trained without one.
    value_model: lgb.Booster | None = None

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

    def expected_value(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected revenue over the value horizon for each row (the value model's prediction)."""
        from models.value import predict_value

        if self.value_model is None:
            raise ChurnError(
                "this model has no value model (value.txt): retrain it with "
                "scoring.value.source: expected, or choose scoring.value.source revenue or column"
            )
        return predict_value(self.value_model, self.spec, frame)

    def save(self, folder: Path | str) -> Path:
        """Write the bundle's files into `folder` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(self.booster.model_to_string())
        if self.value_model is not None:
            (folder / "value.txt").write_text(self.value_model.model_to_string())
        for name, payload in (
            ("calibrator.json", self.calibrator.to_dict()),
            ("spec.json", self.spec.to_dict()),
            ("reference.json", self.reference),
        ):
            (folder / name).write_text(json.dumps(payload, indent=1, sort_keys=True))
        (folder / CHECKSUMS).write_text(json.dumps(checksums(folder), indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(
        cls, folder: Path | str, label: str | None = None, recorded: dict | None = None
    ) -> ModelBundle:
        """Read a bundle written by `save`: text and JSON only, never pickle, and only after
        every file matches its recorded checksum (`checksums.json`, and `recorded`, the
        registry's copy, when given). `label` names the bundle in errors (default: the folder)."""
        folder = Path(folder)
        verify(folder, label or str(folder), recorded)
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise ChurnError(
                f"model folder {folder}: missing {missing}; pass a folder written by churn train"
            )
        booster = lgb.Booster(model_str=(folder / "model.txt").read_text())
        calibrator = Calibrator.from_dict(json.loads((folder / "calibrator.json").read_text()))
        spec = FeatureSpec.from_dict(json.loads((folder / "spec.json").read_text()))
        reference = json.loads((folder / "reference.json").read_text())
        value = folder / "value.txt"
        value_model = lgb.Booster(model_str=value.read_text()) if value.is_file() else None
        return cls(booster, calibrator, spec, reference, value_model)


def bundle_files(folder: Path | str) -> tuple[str, ...]:
    """The required files and the optional ones present in `folder`."""
    present = tuple(name for name in OPTIONAL_FILES if (Path(folder) / name).is_file())
    return FILES + present


def checksums(folder: Path | str) -> dict[str, str]:
    """SHA-256 of each bundle file (the optional ones when present), by name."""
    return {
        name: hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
        for name in bundle_files(folder)
    }


def verify(folder: Path, label: str, recorded: dict | None = None) -> None:
    """Refuse a bundle whose files differ from their recorded checksums, naming the file.

    Bundles saved before checksums were recorded (no `checksums.json`, no registry record)
    load with a warning."""
    records = [recorded] if recorded else []
    if (folder / CHECKSUMS).is_file():
        try:
            records.insert(0, dict(json.loads((folder / CHECKSUMS).read_text())))
        except (ValueError, TypeError):
            raise ChurnError(
                f"model bundle {label}: {CHECKSUMS} is not a checksum record; the model was "
                "altered after registration — re-register it"
            ) from None
    if not records:
        log.warning(
            "model bundle %s: no %s (saved before checksums were recorded); loading it "
            "unverified — re-register it to record them",
            label,
            CHECKSUMS,
        )
        return
    # An optional file is checked when present (an unrecorded one was added after registration)
    # and when recorded (a recorded one that is gone was removed after it).
    named = {name for record in records for name in record}
    for name in FILES + tuple(n for n in OPTIONAL_FILES if n in named or (folder / n).is_file()):
        path = folder / name
        if not path.is_file():
            raise ChurnError(
                f"model bundle {label}: {name} is missing; the model was altered after "
                "registration — re-register it"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if any(record.get(name) != digest for record in records):
            raise ChurnError(
                f"model bundle {label}: {name} does not match its recorded checksum; the model "
                "was altered after registration — re-register it"
            )
