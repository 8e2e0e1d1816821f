"""A small synthetic world with a quickly trained model and one day of scores, for the report
and notebook tests. Everything is written under one folder, laid out as the jobs lay it out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.config import Config, load_config


@dataclass(frozen=True)
class ReportWorld:
    data: Path
    model: Path  # a bundle folder with evaluation.json beside it, as `churn train` writes
    scores: Path  # the score job's --out folder
    as_of: pd.Timestamp
    cfg: Config


def quick_config() -> Config:
    """The demo config with a short search, so training takes seconds."""
    cfg = load_config()
    training = cfg.training.model_copy(
        update={
            "trials": 2,
            "max_boost_rounds": 150,
            "early_stopping_rounds": 15,
            "shap_sample_rows": 400,
        }
    )
    return cfg.model_copy(update={"training": training})


def build_report_world(root: Path, customers: int = 2500, seed: int = 5) -> ReportWorld:
    """Synthesise, train, evaluate and score into `root`."""
    from features.dataset import open_dataset
    from features.matrix import build_training_matrix
    from features.snapshots import observed_until
    from features.synth import write_world
    from models.fitting import data_fingerprint, evaluate_bundle, fit_model
    from models.split import split_matrix
    from pipelines.score import run_score

    cfg = quick_config()
    data = root / "data"
    write_world(data, customers=customers, seed=seed, truth=False)
    dataset = open_dataset(data)
    matrix = build_training_matrix(dataset, cfg)
    split = split_matrix(matrix, cfg.training.seed)
    fitted = fit_model(split, cfg.training, root / "optuna", "report-test")
    run = root / "runs" / "test-run"
    model = fitted.bundle.save(run / "model")
    evaluation = evaluate_bundle(fitted.bundle, split, cfg.training, cfg.scoring.tiers)
    evaluation.data = data_fingerprint(matrix)
    (run / "evaluation.json").write_text(json.dumps(evaluation.to_dict(), default=str))
    as_of = observed_until(dataset, cfg)
    out = root / "out"
    # Drift is not under test here; the small world drifts on its last month.
    run_score(data, cfg, as_of, out, model=str(model), allow_drift=True)
    return ReportWorld(data=data, model=model, scores=out, as_of=as_of, cfg=cfg)


def session_folder(tmp_path_factory) -> Path:
    """A folder this test session's xdist workers share (pytest's own base temp without xdist)."""
    import os

    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_report_world(base: Path, customers: int = 2500, seed: int = 5) -> ReportWorld:
    """One world per test session, shared by xdist workers: the first builds it under a lock.

    `base` is the folder every worker shares (the parent of pytest's per-worker base temp).
    """
    import fcntl

    root = base / f"report-world-{customers}-{seed}"
    with open(base / f"report-world-{customers}-{seed}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "built"
        if not done.exists():
            build_report_world(root, customers=customers, seed=seed)
            done.touch()
    return ReportWorld(
        data=root / "data",
        model=root / "runs" / "test-run" / "model",
        scores=root / "out",
        as_of=pd.Timestamp(
            json.loads(next((root / "out").glob("scores/*/manifest.json")).read_text())["as_of"],
            tz="UTC",
        ),
        cfg=quick_config(),
    )
