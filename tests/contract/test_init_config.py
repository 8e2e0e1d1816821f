"""`churn init`: the proposed config loads, maps the names it should, and fits the embargo."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.config import load_config
from features.dataset import open_dataset
from features.init_config import signal_family, tokens
from features.snapshots import training_cutoffs
from features.synth import write_world
from models.split import embargo_cutoffs
from pipelines.cli import app
from pipelines.init_config import write_starter_config


def _write(folder: Path, customers: pd.DataFrame, events: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(folder / "customers.parquet", index=False)
    events.to_parquet(folder / "events.parquet", index=False)
    return folder


def _customers(n: int, **extra) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "signup_at": pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    return frame.assign(**extra)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("init")
    write_world(root / "world", customers=300, seed=2, truth=False)
    out = root / "config.yaml"
    write_starter_config(root / "world", out)
    return root / "world", out


def test_demo_world_mapping_churn_and_embargo(demo):
    data, out = demo
    cfg = load_config(out)
    signals = cfg.signals
    assert signals.faq_page == ["faq_view"]
    assert signals.cancel_page == ["cancel_page_view"]
    assert sorted(signals.support_contact) == ["support_call", "support_chat"]
    assert signals.email_sent == ["email_sent"] and signals.email_open == ["email_open"]
    assert signals.payment == ["payment"]
    assert sorted(signals.activity) == ["login", "page_view"]
    assert cfg.churn.source == "events" and cfg.churn.events == ["subscription_cancelled"]
    assert cfg.scoring.value.source == "revenue"
    assert cfg.features.categorical_columns == ["plan", "country"]
    assert "email_click" in out.read_text().split("signals:")[0]  # listed as unmatched
    cutoffs = training_cutoffs(open_dataset(data), cfg)
    assert len(cutoffs) == cfg.snapshots.count >= 3
    split = embargo_cutoffs(cutoffs, cfg.snapshots.horizon_days, cfg.training.embargo)
    assert split.valid is not None and len(split.train) >= 1 and not split.dropped


def test_renamed_events_case_and_separator_insensitive(tmp_path):
    customers = _customers(4, plan=["a", "b", "a", "b"])
    names = ["Page:Help", "CANCEL-Page", "ticket_opened", "invoice.paid", "widget_spin"]
    names += ["EmailDelivered", "email open", "User Login"]
    rows = [
        {
            "customer_id": f"C{i % 4}",
            "ts": pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=3 * i),
            "event": names[i % len(names)],
            "value": 10.0 if names[i % len(names)] == "invoice.paid" else None,
        }
        for i in range(200)
    ]
    data = _write(tmp_path / "d", customers, pd.DataFrame(rows))
    out = tmp_path / "c.yaml"
    write_starter_config(data, out)
    cfg = load_config(out)
    assert cfg.signals.faq_page == ["Page:Help"]
    assert cfg.signals.cancel_page == ["CANCEL-Page"]
    assert cfg.signals.support_contact == ["ticket_opened"]
    assert cfg.signals.payment == ["invoice.paid"]
    assert cfg.signals.email_sent == ["EmailDelivered"]
    assert cfg.signals.email_open == ["email open"]
    assert cfg.signals.activity == ["User Login"]
    head = out.read_text().split("signals:")[0]
    assert "widget_spin" in head
    assert "widget_spin" not in yaml.safe_load(out.read_text())["signals"].values()
    assert tokens("loginSuccess") == ["login", "success"]
    assert signal_family("Unsubscribe") == "cancel_page"


def test_purchase_only_data_is_inactivity_churn_with_expected_revenue(tmp_path):
    customers = _customers(40)
    rows = [
        {
            "customer_id": f"C{c}",
            "ts": pd.Timestamp("2024-01-05", tz="UTC") + pd.Timedelta(days=day),
            "event": "purchase",
            "value": 12.5,
        }
        for c in range(40)
        for day in range(c % 7, 540 - 5 * c, 20 + c)
    ]
    data = _write(tmp_path / "d", customers, pd.DataFrame(rows))
    out = tmp_path / "c.yaml"
    write_starter_config(data, out)
    cfg = load_config(out)
    assert cfg.churn.source == "inactivity"
    assert cfg.churn.inactive_days % 7 == 0 and 14 <= cfg.churn.inactive_days <= 180
    assert cfg.signals.payment == ["purchase"] and cfg.signals.activity == ["purchase"]
    assert cfg.scoring.value.source == "expected"  # a purchase log: a model of next-period spend
    assert cfg.snapshots.horizon_days == cfg.churn.inactive_days
    cutoffs = training_cutoffs(open_dataset(data), cfg)
    split = embargo_cutoffs(cutoffs, cfg.snapshots.horizon_days, cfg.training.embargo)
    assert split.valid is not None and split.train


def test_cli_refuses_overwrite_and_writes_nothing_on_missing_data(demo, tmp_path):
    data, out = demo
    runner = CliRunner()
    before = out.read_text()
    refused = runner.invoke(app, ["init", "--data", str(data), "--out", str(out)])
    assert refused.exit_code in (1, 2) and "--force" in refused.output
    assert out.read_text() == before
    target = tmp_path / "new.yaml"
    missing = runner.invoke(app, ["init", "--data", str(tmp_path / "nope"), "--out", str(target)])
    assert missing.exit_code != 0 and not target.exists()
    assert list(tmp_path.iterdir()) == []
    forced = runner.invoke(app, ["init", "--data", str(data), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "validation passed" in forced.output


def test_failing_validation_still_profiles_and_says_so(tmp_path):
    rows = [
        {"customer_id": "C0", "ts": pd.Timestamp("2025-01-01", tz="UTC"), "event": "login"},
        {"customer_id": "C1", "ts": pd.Timestamp("2099-01-01", tz="UTC"), "event": "login"},
    ]
    data = _write(tmp_path / "d", _customers(2), pd.DataFrame(rows))
    lines = write_starter_config(data, tmp_path / "c.yaml")
    assert any("validation FAILED" in line for line in lines)
    assert "did NOT pass validation" in (tmp_path / "c.yaml").read_text()
    assert load_config(tmp_path / "c.yaml").signals.activity == ["login"]


def test_data_too_short_for_three_cutoffs_says_so_instead_of_next_train():
    from features.init_config import _snapshots

    first, last = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-04-10", tz="UTC")
    notes: dict = {}
    spec, _ = _snapshots(first, last, 30, notes)
    assert spec["count"] == 2
    assert notes["snapshots"][-1].startswith("TOO SHORT TO TRAIN")
    assert "about 120 days of events; this data has 100" in notes["snapshots"][-1]
    notes = {}
    spec, _ = _snapshots(first, last + pd.Timedelta(days=30), 30, notes)
    assert spec["count"] == 3 and not notes["snapshots"][-1].startswith("TOO SHORT")
