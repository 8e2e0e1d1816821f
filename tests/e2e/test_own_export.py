"""Your own data in ten minutes (issue 15): a 2,000-customer export with its own column and
event names, naive local timestamps and CSV parts goes through `churn init`, then validate,
train, score and report with the generated config, after only the mapping a user writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest
import yaml
from typer.testing import CliRunner

from features.synth import write_world
from pipelines.cli import app

pytestmark = pytest.mark.slow

ZONE = "America/New_York"
# How a tracker names the demo world's events.
EVENT_NAMES = {
    "faq_view": "Page:Help",
    "cancel_page_view": "CANCEL-Page",
    "support_call": "ticket_opened",
    "support_chat": "Support Chat Started",
    "payment": "invoice.paid",
    "subscription_cancelled": "Subscription Cancelled",
    "login": "Logged In",
    "page_view": "Page Viewed",
    "email_sent": "Email Delivered",
    "email_open": "Email Opened",
}
SOURCES = {
    "timezone": ZONE,
    "customers": {"columns": {"customer_id": "account", "signup_at": "created"}},
    "events": {
        "path": "exports/tracks",
        "columns": {"customer_id": "account", "ts": "timestamp", "event": "event_name"},
    },
}


def local_text(moments: pd.Series) -> pd.Series:
    return moments.dt.tz_convert(ZONE).dt.strftime("%Y-%m-%d %H:%M:%S")


def export(world: Path, folder: Path) -> Path:
    """The world as a CRM table and a tracker's CSV parts, in its own words and local time."""
    (folder / "exports" / "tracks").mkdir(parents=True)
    customers = pd.read_parquet(world / "customers.parquet")
    customers = customers.assign(signup_at=local_text(customers["signup_at"]))
    customers.rename(columns={"customer_id": "account", "signup_at": "created"}).to_csv(
        folder / "customers.csv", index=False
    )
    events = pads.dataset(world / "events").to_table().to_pandas()
    events = events.assign(
        ts=local_text(events["ts"]), event=events["event"].map(EVENT_NAMES).fillna(events["event"])
    ).rename(columns={"customer_id": "account", "ts": "timestamp", "event": "event_name"})
    for number, start in enumerate(range(0, len(events), 60_000)):
        part = events.iloc[start : start + 60_000]
        part.to_csv(folder / "exports" / "tracks" / f"part-{number:03d}.csv", index=False)
    return folder


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"churn {args[0]}: {result.output}"
    return result.output


def test_an_export_goes_from_init_to_a_report(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    world = tmp_path / "world"
    write_world(world, customers=2000, seed=17, truth=False)
    data = export(world, tmp_path / "acme")
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"data": SOURCES}))  # the only thing the user writes

    config = tmp_path / "acme.yaml"
    said = run("init", "--data", str(data), "--out", str(config), "--sources", str(sources))
    assert "validation passed" in said
    proposed = yaml.safe_load(config.read_text())
    assert proposed["data"]["timezone"] == ZONE
    assert "Page:Help" in proposed["signals"]["faq_page"]
    assert "CANCEL-Page" in proposed["signals"]["cancel_page"]
    assert proposed["churn"]["events"] == ["Subscription Cancelled"]

    var, out = tmp_path / "var", tmp_path / "out"
    run("validate", "--data", str(data), "--config", str(config))
    run("train", "--data", str(data), "--config", str(config), "--var-dir", str(var),
        "--trials", "2")  # fmt: skip
    scored = run("score", "--data", str(data), "--config", str(config), "--var-dir", str(var),
                 "--as-of", "2026-07-01", "--out", str(out))  # fmt: skip
    assert "high" in scored
    run("report", "--scores", str(out), "--config", str(config), "--var-dir", str(var),
        "--out", str(tmp_path / "report.html"))  # fmt: skip
    assert (tmp_path / "report.html").stat().st_size > 10_000
