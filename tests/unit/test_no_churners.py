"""A churn definition that finds nobody is named before anything trains on it."""

from __future__ import annotations

import pandas as pd
import pytest

from features import matrix as matrices
from features.config import load_config
from features.errors import DataContractError


def test_zero_churners_name_the_churn_setting(monkeypatch) -> None:
    cutoffs = [pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-02-01", tz="UTC")]
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "a", "b"], "cutoff": cutoffs * 2, "churned": [0.0] * 4}
    )
    monkeypatch.setattr(matrices, "training_cutoffs", lambda dataset, cfg: cutoffs)
    monkeypatch.setattr(matrices, "build_matrix", lambda dataset, cfg, wanted: frame)
    cfg = load_config()
    with pytest.raises(DataContractError, match=r"0 churners in 4 labelled rows over 2 cutoff"):
        matrices.build_training_matrix(None, cfg)
    try:
        matrices.build_training_matrix(None, cfg)
    except DataContractError as error:
        assert f"churn.events {list(cfg.churn.events)}" in str(error)
    # One churner is enough to go on.
    monkeypatch.setattr(
        matrices, "build_matrix", lambda dataset, cfg, wanted: frame.assign(churned=[0, 0, 1, 0])
    )
    assert len(matrices.build_training_matrix(None, cfg)) == 4
