"""The churn-drivers report: its numbers on small frames, then the whole report on a small
synthetic world, opened in headless Chromium."""

from __future__ import annotations

import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.catalog import load_scores
from reporting import html as page
from reporting import numbers
from tests.browser import Browser, chromium_path
from tests.report_fixtures import ReportWorld, session_folder, shared_report_world

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "var" / "test-screenshots"
PLANTED_FAMILIES = {"web_journey", "support", "activity", "email"}


def scores_frame() -> pd.DataFrame:
    """Six scored customers following the scores contract."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(6)],
            "as_of": pd.Timestamp("2026-07-01", tz="UTC"),
            "churn_probability": [0.9, 0.6, 0.5, 0.1, 0.05, 0.02],
            "risk_tier": ["high", "high", "medium", "low", "low", "low"],
            "value": [200.0, 100.0, 80.0, 300.0, 20.0, 10.0],
            "value_tier": ["high", "medium", "medium", "high", "low", "low"],
            "tier": ["high", "high", "medium", "other", "other", "other"],
            "expected_loss": [180.0, 60.0, 40.0, 30.0, 1.0, 0.2],
            "reason_1": ["support spike", "cancel page", "support spike", "x", "y", "z"],
            "reason_2": ["cancel page", "support spike", None, "x", "y", "z"],
            "reason_3": ["inactive", None, None, None, None, None],
            "reason_1_contribution": [1.0, 0.8, 0.5, 0.1, 0.1, 0.1],
            "reason_2_contribution": [0.5, 0.2, np.nan, 0.1, 0.1, 0.1],
            "reason_3_contribution": [0.1, np.nan, np.nan, np.nan, np.nan, np.nan],
            "action": ["call", "discount", "call", "email", "email", "email"],
            "model_version": "churn/1",
        }
    )


def test_tier_summary_has_all_three_tiers_even_when_one_is_empty():
    scores = scores_frame()
    scores = scores[scores["tier"] != "medium"]
    table = numbers.tier_summary(scores)
    assert list(table.index) == ["high", "medium", "other"]
    assert table["customers"].tolist() == [2, 0, 3]
    assert table.at["high", "expected_revenue_at_risk"] == 240.0
    assert table.at["other", "total_value"] == 330.0
    assert table["share"].sum() == pytest.approx(1.0)


def test_reason_and_action_counts_per_tier():
    scores = scores_frame()
    reasons = numbers.reason_counts(scores, "high").set_index("reason")
    # Each high-tier customer names both; "inactive" only one of them.
    assert reasons.loc["support spike", "customers"] == 2
    assert reasons.loc["cancel page", "share"] == 1.0
    assert reasons.loc["inactive", "customers"] == 1
    actions = numbers.action_counts(scores, "high").set_index("action")
    assert actions["customers"].to_dict() == {"call": 1, "discount": 1}


def test_tier_value_matrix_counts_and_money_add_up():
    counts, money = numbers.tier_value_matrix(scores_frame())
    assert list(counts.index) == ["high", "medium", "low", "all"]
    assert counts.at["low", "high"] == 1 and counts.at["high", "medium"] == 1
    assert counts.at["all", "all"] == 6
    assert money.at["high", "all"] == 240.0
    assert money.at["all", "all"] == pytest.approx(311.2)


def test_lift_and_calibration_tables_by_hand():
    label = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 0], dtype=float)
    probability = np.linspace(0.9, 0.0, 10)  # already sorted riskiest first
    lift = numbers.lift_table(label, probability, steps=5)
    # Top 20% = 2 rows, both churners, of 3 in all: capture 2/3, lift 1.0 / 0.3.
    assert lift.at[0, "capture"] == pytest.approx(2 / 3)
    assert lift.at[0, "lift"] == pytest.approx(1 / 0.3)
    assert lift.at[4, "capture"] == pytest.approx(1.0)
    assert lift.at[4, "lift"] == pytest.approx(1.0)
    calibration = numbers.calibration_table(label, probability, bins=2)
    assert calibration["rows"].tolist() == [5, 5]
    assert calibration["observed_rate"].tolist() == [0.2, 0.4]


def test_mean_abs_shap_by_family_sums_within_family_first():
    contributions = pd.DataFrame({"a": [1.0, -1.0], "b": [-1.0, 1.0], "c": [0.5, -0.5]})
    families = {"a": "support", "b": "support", "c": "email"}
    # a and b cancel inside the family on every row: the family moves nothing.
    assert numbers.mean_abs_by_family(contributions, families).to_dict() == {
        "email": 0.5,
        "support": 0.0,
    }
    assert numbers.mean_abs_by_feature(contributions, list(families)).index[0] in {"a", "b"}


def test_html_escapes_text_and_embeds_images():
    frame = pd.DataFrame({"x": ["<script>alert(1)</script>"]}, index=["row"])
    html = page.render(
        "t", "s", [page.Section("a", "A").add(page.table(frame), page.image(b"\x89PNG", "p"))]
    )
    assert "<script>" not in html
    assert 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html


# ---------- the whole report on a synthetic world ----------


class _Tables(HTMLParser):
    """Collect the text of every cell of the tables with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id"):
            self._current = attributes["id"]
            self.tables[self._current] = []
        elif tag == "tr" and self._current:
            self.tables[self._current].append([])
        elif tag in ("td", "th") and self._current:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._current and self._cell is not None:
            self.tables[self._current][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ReportWorld:
    return shared_report_world(session_folder(tmp_path_factory))


@pytest.fixture(scope="module")
def report_path(world: ReportWorld, tmp_path_factory) -> Path:
    """The report as `churn report` writes it (the model is a folder: nothing to log to)."""
    folder = tmp_path_factory.mktemp("report")
    out = folder / "report.html"
    args = ["report", "--scores", str(world.scores), "--model", str(world.model)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--var-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_report_shows_the_planted_drivers_on_top(report_path: Path):
    html = report_path.read_text()
    rows = tables_of(html)["global-drivers"][1:]
    families = [row[1] for row in rows[:8]]
    assert set(families) >= PLANTED_FAMILIES, families
    values = [float(row[2]) for row in rows]
    assert values == sorted(values, reverse=True) and values[0] > 0


@pytest.mark.slow
def test_report_is_self_contained_and_names_no_customer(report_path: Path, world: ReportWorld):
    html = report_path.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html), "only data: URIs and anchors"
    scores, _ = load_scores(world.scores)
    ids = set(scores["customer_id"])
    assert not any(customer in html for customer in ids)
    tables = tables_of(html)
    # Model card, metrics against the baseline, tiers, retention and cohorts are all there.
    for table in ("model-facts", "metrics", "tier-table", "matrix-counts", "retention-table"):
        assert table in tables, table
    assert tables["metrics"][0][1:] == ["model", "baseline (logistic regression)"]
    assert html.count("data:image/png;base64,") >= 12


@pytest.mark.slow
def test_report_opens_in_headless_chromium(report_path: Path, tmp_path: Path):
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    with Browser(tmp_path / "profile") as browser:
        browser.open(report_path.as_uri())
        widths = browser.evaluate(
            "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth)))"
        )
        tiers = browser.evaluate(
            "[...document.querySelectorAll('#tier-table tbody tr td:first-child')]"
            ".map(cell => cell.textContent)"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = browser.screenshot(SCREENSHOTS / "report.png", full_page=True)
        errors = browser.errors()
    assert errors == []
    assert len(widths) >= 12 and min(widths) > 0
    assert tiers == ["high", "medium", "other"]
    assert shot.stat().st_size > 50_000


def test_browser_reports_console_errors_and_broken_images(tmp_path: Path):
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    # The checks above must be able to fail: a broken image and a script error are caught.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>"
    )
    with tempfile.TemporaryDirectory() as profile, Browser(Path(profile)) as browser:
        browser.open(bad.as_uri())
        widths = browser.evaluate("[...document.images].map(i => i.naturalWidth)")
        errors = browser.errors()
    assert widths == [0]
    assert any("boom" in error for error in errors)


def test_cli_fails_in_one_line_without_scores(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["report", "--scores", str(tmp_path / "none"), "--out", str(tmp_path / "x.html")]
    )
    assert result.exit_code == 1
    assert "no as_of=YYYY-MM-DD folder" in result.output
    assert not (tmp_path / "x.html").exists()
