"""Every optional column is optional for the whole pipeline (issue 15 item 3): validate, train,
score, report and export run through the CLI on events without session_id or value, without
email events, on customers without profile columns, and on a labels-only snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
import yaml
from typer.testing import CliRunner

from features.synth import write_world
from pipelines.cli import app
from tests.fixtures.configs import quick_config

pytestmark = pytest.mark.slow

AS_OF = "2026-07-01"


def run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"churn {' '.join(args[:1])}: {result.output}"


def pipeline(data: Path, config: Path, root: Path, as_of: str) -> pd.DataFrame:
    """validate -> train -> score -> report -> export, each through the CLI; the scores."""
    var, out = root / "var", root / "out"
    run("validate", "--data", str(data), "--config", str(config))
    run("train", "--data", str(data), "--config", str(config), "--var-dir", str(var))
    run("score", "--data", str(data), "--config", str(config), "--var-dir", str(var),
        "--as-of", as_of, "--out", str(out))  # fmt: skip
    run("report", "--scores", str(out), "--config", str(config), "--var-dir", str(var),
        "--out", str(root / "report.html"))  # fmt: skip
    run("export", "--scores", str(out), "--config", str(config), "--out", str(root / "c.csv"))
    assert (root / "report.html").stat().st_size > 10_000
    day = (out / "scores" / f"as_of={as_of}").resolve()
    return pd.concat([pd.read_parquet(p) for p in sorted(day.glob("part-*.parquet"))])


def write_config(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_no_session_id_no_value_no_email_no_profile(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    world = tmp_path / "world"
    write_world(world, customers=1200, seed=21, truth=False)
    data = tmp_path / "bare"
    data.mkdir()
    customers = pd.read_parquet(world / "customers.parquet")[["customer_id", "signup_at"]]
    customers.to_parquet(data / "customers.parquet")
    events = pads.dataset(world / "events").to_table().to_pandas()
    events = events[~events["event"].str.startswith("email_")].drop(columns=["session_id", "value"])
    events.to_parquet(data / "events.parquet")

    raw = quick_config("churn-bare").model_dump(mode="json")
    raw["signals"]["email_sent"] = raw["signals"]["email_open"] = []
    raw["features"]["profile_columns"] = raw["features"]["categorical_columns"] = []
    raw["features"]["builders"] = [
        b for b in raw["features"]["builders"] if "email" not in b and b != "plan_price"
    ]
    raw["scoring"]["value"] = {"source": "revenue", "revenue_days": 365}  # no price, no amounts
    scores = pipeline(data, write_config(raw, tmp_path / "bare.yaml"), tmp_path, AS_OF)
    assert len(scores) > 500 and scores["churn_probability"].between(0, 1).all()
    assert (scores["value"] == 0).all()  # no amounts: no value, so no profitable action
    assert (scores["tier"] == "other").all()


def test_a_labels_only_snapshot(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    rng = np.random.default_rng(8)
    n = 3000
    as_of = pd.Timestamp(AS_OF, tz="UTC")
    bill = rng.gamma(4.0, 15.0, n)
    calls = rng.poisson(1.5, n)
    risk = 1 / (1 + np.exp(-(-3.0 + 0.8 * calls + 0.01 * (bill - 60))))
    data = tmp_path / "snapshot"
    data.mkdir()
    ids = [f"s{i:05d}" for i in range(n)]
    pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": as_of - pd.to_timedelta(rng.integers(30, 900, n), unit="D"),
            "monthly_bill": bill,
            "service_calls": calls.astype(float),
            "plan": rng.choice(["basic", "plus"], n),
        }
    ).to_parquet(data / "customers.parquet")
    pd.DataFrame({"customer_id": ids, "as_of": as_of, "churned": rng.random(n) < risk}).to_parquet(
        data / "labels.parquet"
    )

    raw = quick_config("churn-snapshot").model_dump(mode="json")
    raw["signals"] = {}
    raw["churn"] = {"source": "labels"}
    raw["features"] = {
        "builders": ["profile_attributes"],
        "profile_columns": ["monthly_bill", "service_calls", "plan"],
        "categorical_columns": ["plan"],
    }
    raw["training"]["baseline_features"] = ["service_calls", "monthly_bill"]
    raw["scoring"]["value"] = {"source": "column", "column": "monthly_bill"}
    raw["decisions"] = {"budget": {"share": 0.1}}
    scores = pipeline(data, write_config(raw, tmp_path / "snapshot.yaml"), tmp_path, AS_OF)
    assert len(scores) == n
    assert (scores["tier"] == "high").sum() <= 0.1 * n
    assert scores.loc[scores["tier"] != "other", "expected_profit"].gt(0).all()
