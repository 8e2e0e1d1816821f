"""The churn-drivers report on a small synthetic world, opened in headless Chromium.

Its numbers on small frames are in `tests/unit/test_report_numbers.py`.
"""

from __future__ import annotations

import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.catalog import load_scores
from pipelines.cli import app
from tests.fixtures.browser import Browser, chromium_path
from tests.fixtures.report_fixtures import ReportWorld, session_folder, shared_report_world

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "test-screenshots"
PLANTED_FAMILIES = {"web_journey", "support", "activity", "email"}


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
    for table in ("model-facts", "metrics", "tier-table", "action-table", "retention-table"):
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


@pytest.mark.slow  # starts Chromium, which only `make test` installs
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
