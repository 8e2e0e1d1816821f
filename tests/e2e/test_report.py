"""The churn-drivers report on a small synthetic world (two scored nights and their backtest
ledger), opened in headless Chromium at 1000 and 1400 px; `churn report --as-of` and its own
mlflow run.

Its numbers on small frames are in `tests/unit/test_report_numbers.py`.
"""

from __future__ import annotations

import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.bundle import ModelBundle
from models.decisions import call_list
from pipelines.catalog import load_scores
from pipelines.cli import app
from tests.fixtures.browser import Browser, chromium_path
from tests.fixtures.report_fixtures import ReportWorld, session_folder, shared_report_world

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "test-screenshots"
PLANTED_FAMILIES = {"web journey", "support", "activity", "email"}
SECTIONS = (
    "summary", "call-list", "audience", "tiers", "tiers-drivers", "protective", "segments",
    "nights", "health", "backtest", "drivers", "dependence", "model", "retention",
)  # fmt: skip
WIDTHS = (1000, 1400)
# Every section and headline card: no horizontal overflow (a table may scroll inside its box).
OVERFLOWING = (
    "[...document.querySelectorAll('section, .card')]"
    ".filter(e => e.scrollWidth > e.clientWidth)"
    ".map(e => `${e.id || e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"
    ".concat(document.documentElement.scrollWidth > document.documentElement.clientWidth"
    " ? ['page'] : [])"
)


def snake_case_names(browser: Browser, names: list[str]) -> list[str]:
    """The snake_case names among `names` that the page shows as text."""
    text = browser.evaluate("document.body.innerText")
    return [name for name in names if "_" in name and name in text]


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
    # Customers appear only on the call list, by their pseudonymous id, as `churn export` has it.
    calls = call_list(scores, world.cfg.report.call_list_rows, "USD")
    shown = {customer for customer in scores["customer_id"] if customer in html}
    assert shown == set(calls["customer_id"]) and len(shown) == world.cfg.report.call_list_rows
    tables = tables_of(html)
    assert [row[0] for row in tables["call-list-table"][1:]] == calls["customer_id"].tolist()
    assert all(row[1].startswith(("high: ", "medium: ")) for row in tables["call-list-table"][1:])
    # Model card, metrics against the baseline, tiers, retention and cohorts are all there.
    for table in ("model-facts", "metrics", "tier-table", "action-table", "retention-table"):
        assert table in tables, table
    assert tables["metrics"][0][1:] == ["model", "baseline (logistic regression)"]
    assert html.count("data:image/png;base64,") >= 12


@pytest.mark.slow
def test_report_opens_in_headless_chromium(report_path: Path, world: ReportWorld, tmp_path: Path):
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    names = ModelBundle.load(world.model).spec.names
    overflow, shots = {}, []
    with Browser(tmp_path / "profile") as browser:
        browser.open(report_path.as_uri())
        widths = browser.evaluate(
            "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth)))"
        )
        tiers = browser.evaluate(
            "[...document.querySelectorAll('#tier-table tbody tr td:first-child')]"
            ".map(cell => cell.textContent)"
        )
        sections = browser.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
        snake = snake_case_names(browser, names)
        for width in WIDTHS:
            browser.resize(width)
            overflow[width] = browser.evaluate(OVERFLOWING)
            shot = SCREENSHOTS / f"report-{width}.png"
            shots.append(browser.screenshot(shot, full_page=True, width=width))
        errors = browser.errors()
    assert errors == []
    assert sections == list(SECTIONS)
    assert overflow == {width: [] for width in WIDTHS}
    assert snake == [], "feature names shown as snake_case"
    assert len(widths) >= 12 and min(widths) > 0
    assert tiers == ["high", "medium", "other"]
    assert all(shot.stat().st_size > 50_000 for shot in shots)


@pytest.mark.slow
def test_report_sections_show_the_nights_backtest_and_grouped_drivers(report_path: Path):
    tables = tables_of(report_path.read_text())
    nights = tables["nights-table"]
    assert [row[0] for row in nights[1:]] == ["2026-07-01", "2026-05-27"]  # newest first
    assert nights[0][-3:] == ["drift", "feed", "events dropped"]
    backtest = {row[0]: row for row in tables["backtest-table"][1:]}
    assert backtest["2026-05-27"][1] == "matured" and backtest["2026-07-01"][1] == "pending"
    assert {row[1] for row in tables["campaign-table"][1:]} == {"high", "medium"}
    # Drivers are grouped by template: no driver names a count, each names its family.
    for tier in ("high", "medium"):
        drivers = [row[0] for row in tables[f"reasons-{tier}"][1:]]
        counts = [re.sub(r"\d+|once|twice", "N", driver) for driver in drivers]
        assert drivers and len(set(counts)) == len(drivers), drivers
        assert not any(re.search(r"\d+ (times|days ago)", driver) for driver in drivers)
    assert "segment-plan" in tables and "segment-country" in tables
    assert "protective-high" in tables and "audience-table" in tables


@pytest.mark.slow  # starts Chromium, which only `make test` installs
def test_browser_reports_console_errors_and_broken_images(tmp_path: Path):
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    # The checks above must be able to fail: a broken image and a script error are caught.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="data:image/png;base64,AAAA">'
        '<section id="wide" style="width:600px"><table><tr><td style="white-space:nowrap">'
        + "days_since_last_activity "
        * 20
        + "</td></tr></table></section>"
        "<script>console.error('boom')</script></body></html>"
    )
    with tempfile.TemporaryDirectory() as profile, Browser(Path(profile)) as browser:
        browser.open(bad.as_uri())
        widths = browser.evaluate("[...document.images].map(i => i.naturalWidth)")
        browser.resize(1000)
        overflow = browser.evaluate(OVERFLOWING)
        snake = snake_case_names(browser, ["days_since_last_activity", "plan"])
        errors = browser.errors()
    assert widths == [0]
    assert any("boom" in error for error in errors)
    assert overflow[0].startswith("wide: ") and "page" in overflow
    assert snake == ["days_since_last_activity"]


@pytest.mark.slow
def test_report_as_of_a_day_logs_to_a_reporting_run_of_its_own(world: ReportWorld, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from models.registry import log_and_register, model_signature, signature_example
    from pipelines import catalog

    name = "report-run-test"
    var = tmp_path / "var"
    catalog.use_model_store(var)
    mlflow.set_experiment(name)
    bundle = ModelBundle.load(world.model)
    example = signature_example(bundle, report_features(world))
    with mlflow.start_run(run_name="train") as training:
        version = log_and_register(world.model, name, example, model_signature(bundle, example))
    earlier = catalog.scored_days(world.scores)[0]
    out = tmp_path / "report.html"
    args = ["report", "--scores", str(world.scores), "--out", str(out), "--as-of", earlier]
    args += ["--model", f"models:/{name}/{version}", "--var-dir", str(var)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert f"scores as of {earlier}" in html
    # Night over night stops at the day reported.
    assert [row[0] for row in tables_of(html)["nights-table"][1:]] == [earlier]
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name).experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.runName = 'report synthetic {earlier}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_id != training.info.run_id and run.info.status == "FINISHED"
    assert run.data.tags["model_version"] == f"{name}/{version}"
    assert run.data.tags["as_of"] == earlier
    assert run.data.tags["training_run_id"] == training.info.run_id
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report")] == [
        "report/report.html"
    ]
    assert "report" not in [a.path for a in client.list_artifacts(training.info.run_id)]
    # The mlflow copy leaves the call list's customers out (churn forget cannot reach it).
    logged = Path(client.download_artifacts(run.info.run_id, "report/report.html", str(tmp_path)))
    shared = logged.read_text()
    listed = [row[0] for row in tables_of(html)["call-list-table"][1:]]
    assert listed and all(cid in html for cid in listed)
    assert not any(cid in shared for cid in listed) and "leaves the customers out" in shared


def report_features(world: ReportWorld):
    """A few of the world's feature rows, for the registered model's signature."""
    from features.dataset import open_dataset
    from features.matrix import build_matrix

    return build_matrix(open_dataset(world.data), world.cfg, [world.as_of]).head(5)


@pytest.mark.slow
def test_cli_fails_in_one_line_for_a_day_not_scored(world: ReportWorld, tmp_path: Path):
    out = tmp_path / "x.html"
    args = ["report", "--scores", str(world.scores), "--out", str(out), "--as-of", "2020-01-01"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "no scored day 2020-01-01 (scored: 2026-05-27, 2026-07-01)" in result.output
    assert not out.exists()


def test_cli_fails_in_one_line_without_scores(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["report", "--scores", str(tmp_path / "none"), "--out", str(tmp_path / "x.html")]
    )
    assert result.exit_code == 1
    assert "no as_of=YYYY-MM-DD folder" in result.output
    assert not (tmp_path / "x.html").exists()
