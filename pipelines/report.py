"""`churn report`: the self-contained HTML report of churn drivers, tiers and retention.

I/O stays at the edges (`load_*`, `run_report`); `build_report` turns frames and a bundle into
HTML and is what tests and notebooks call. Sections whose inputs are missing (no dataset, no
evaluation record) say so instead of failing: a report of the scores alone is still useful.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.atomic import atomic_file
from features.config import Config
from features.errors import ChurnError
from models import report as numbers
from models import report_figures as figures
from models import report_html as page
from models import retention
from models.bundle import ModelBundle

log = logging.getLogger(__name__)

METRICS = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("log_loss", "log loss"),
    ("brier", "Brier score"),
    ("ece", "calibration error (ECE)"),
    ("lift_top10", "lift, top 10%"),
    ("capture_top10", "capture, top 10%"),
    ("lift_top20", "lift, top 20%"),
    ("capture_top20", "capture, top 20%"),
)
DEPENDENCE_FEATURES = 5
MAX_EXPLAINED_ROWS = 50_000


@dataclass
class ReportInputs:
    """Everything the report is drawn from; all but `scores` and `cfg` may be missing."""

    scores: pd.DataFrame
    cfg: Config
    model_label: str = ""
    bundle: ModelBundle | None = None
    evaluation: dict | None = None
    features: pd.DataFrame | None = None  # the matrix at the scores' as_of
    test_rows: pd.DataFrame | None = None  # labelled rows of the out-of-time test cutoff
    lifetimes: pd.DataFrame | None = None
    revenue: pd.DataFrame | None = None
    until: pd.Timestamp | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Drivers:
    """Contributions on the explained rows, and the global importance derived from them."""

    contributions: pd.DataFrame
    shown: pd.DataFrame  # feature values as the model sees them, same rows
    by_feature: pd.Series
    by_family: pd.Series
    families: dict[str, str]


# ---------- loading (I/O) ----------


def scores_folder(path: Path) -> Path:
    """Accept the score job's --out folder or its `scores/` folder."""
    path = Path(path)
    return path / "scores" if (path / "scores").is_dir() else path


def load_scores(path: Path, as_of: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The scores of one day (default: the latest `as_of=` partition) and its manifest."""
    root = scores_folder(path)
    days = sorted(p for p in root.glob("as_of=*") if p.is_dir() and any(p.glob("*.parquet")))
    if as_of is not None:
        days = [p for p in days if p.name == f"as_of={as_of}"]
    if not days:
        raise ChurnError(
            f"scores {root}: no as_of=YYYY-MM-DD folder with Parquet parts; "
            "run `churn score --out DIR` first and pass that DIR"
        )
    day = days[-1]
    scores = pd.concat(
        [pd.read_parquet(part) for part in sorted(day.glob("*.parquet"))], ignore_index=True
    )
    manifest_path = day / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return scores, manifest


def load_evaluation(uri: str) -> dict | None:
    """The evaluation record the training run wrote for this model, if it can be found."""
    local = Path(uri)
    if local.is_dir():
        for candidate in (local / "evaluation.json", local.parent / "evaluation.json"):
            if candidate.is_file():
                return json.loads(candidate.read_text())
        return None
    run_id = _model_run_id(uri)
    if run_id is None:
        return None
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/report/evaluation.json")
    except Exception as exc:  # a missing artifact is a gap in the report, not a failure
        log.warning("no evaluation record for %s: %s", uri, str(exc).splitlines()[0])
        return None


def _model_run_id(uri: str) -> str | None:
    """The training run behind a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return None
    name = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in name:
            model, alias = name.split("@", 1)
            return client.get_model_version_by_alias(model, alias).run_id
        model, version = name.rsplit("/", 1)
        return client.get_model_version(model, version).run_id
    except MlflowException:
        return None


def retention_inputs(dataset, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Customer lifetimes (signup, churn moment) and monthly revenue, read from the dataset."""
    from features.snapshots import observed_until

    until = observed_until(dataset, cfg)
    customers = dataset.customers.select("customer_id", "signup_at").to_pandas()
    events = dataset.events
    if cfg.churn.source == "events":
        lost = events.filter(events.event.isin(cfg.churn.events))
        lost = lost.group_by("customer_id").aggregate(churned_at=lost.ts.min()).to_pandas()
    else:
        # Non-contractual: lost when the inactivity window after the last activity runs out.
        active = events.filter(events.event.isin(cfg.signals.activity))
        last = active.group_by("customer_id").aggregate(last=active.ts.max()).to_pandas()
        lapse = last["last"] + pd.Timedelta(days=int(cfg.churn.inactive_days or 0))
        lost = pd.DataFrame(
            {"customer_id": last["customer_id"], "churned_at": lapse.where(lapse < until)}
        )
    lifetimes = customers.merge(lost, on="customer_id", how="left")
    lifetimes["churned_at"] = pd.to_datetime(lifetimes["churned_at"], utc=True)
    lifetimes["signup_at"] = pd.to_datetime(lifetimes["signup_at"], utc=True)
    revenue = pd.DataFrame(columns=["customer_id", "month", "revenue"])
    if cfg.signals.payment and "value" in events.columns:
        paid = events.filter(events.event.isin(cfg.signals.payment))
        monthly = (
            paid.group_by("customer_id", year=paid.ts.year(), month=paid.ts.month())
            .aggregate(revenue=paid.value.sum())
            .to_pandas()
        )
        revenue = pd.DataFrame(
            {
                "customer_id": monthly["customer_id"],
                "month": pd.to_datetime(
                    {"year": monthly["year"], "month": monthly["month"], "day": 1}, utc=True
                ),
                "revenue": monthly["revenue"].astype("float64"),
            }
        )
    return lifetimes, revenue, until


def gather_inputs(
    scores: pd.DataFrame,
    cfg: Config,
    bundle: ModelBundle | None,
    evaluation: dict | None,
    data: Path | None,
) -> ReportInputs:
    """Read the dataset for the parts that need it: features, test labels, retention."""
    inputs = ReportInputs(scores=scores, cfg=cfg, bundle=bundle, evaluation=evaluation)
    if data is None:
        inputs.notes.append("no dataset given (--data): drivers and retention are not shown")
        return inputs
    from features.dataset import open_dataset
    from features.matrix import build_matrix
    from features.validation import validate_dataset

    dataset = validate_dataset(open_dataset(data), cfg).dataset
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    cutoffs = [as_of]
    test_cutoff = _test_cutoff(evaluation)
    if test_cutoff is not None and test_cutoff != as_of:
        cutoffs.append(test_cutoff)
    if bundle is not None:
        matrix = build_matrix(dataset, cfg, cutoffs)
        now = matrix[matrix["cutoff"] == as_of]
        inputs.features = now[now["customer_id"].isin(scores["customer_id"])]
        if test_cutoff is not None:
            test = matrix[(matrix["cutoff"] == test_cutoff) & matrix["churned"].notna()]
            inputs.test_rows = test if len(test) else None
    inputs.lifetimes, inputs.revenue, inputs.until = retention_inputs(dataset, cfg)
    return inputs


def _test_cutoff(evaluation: dict | None) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(evaluation["split"]["cutoffs"]["test"][-1], tz="UTC")
    except (KeyError, IndexError, TypeError):
        return None


# ---------- pure: frames in, HTML out ----------


def explain_drivers(bundle: ModelBundle, features: pd.DataFrame, cfg: Config, seed: int) -> Drivers:
    """Exact contributions on the scored rows (a sample beyond MAX_EXPLAINED_ROWS)."""
    from features.registry import feature_family

    rows = features
    if len(rows) > MAX_EXPLAINED_ROWS:
        rows = rows.sample(n=MAX_EXPLAINED_ROWS, random_state=seed)
    contributions = bundle.contributions(rows)
    names = bundle.spec.names
    contributions.index = rows["customer_id"].to_numpy()
    shown = pd.DataFrame(bundle.spec.to_matrix(rows), columns=names, index=contributions.index)
    profile = cfg.features.profile_columns
    families = {name: feature_family(name, profile) for name in names}
    return Drivers(
        contributions=contributions,
        shown=shown,
        by_feature=numbers.mean_abs_by_feature(contributions, names),
        by_family=numbers.mean_abs_by_family(contributions, families),
        families=families,
    )


def build_report(inputs: ReportInputs, sample_rows: int | None = None, seed: int = 0) -> str:
    """The whole report as one self-contained HTML string."""
    scores = inputs.scores
    cfg = inputs.cfg
    sample_rows = sample_rows or cfg.training.shap_sample_rows
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    drivers = None
    if inputs.bundle is not None and inputs.features is not None and len(inputs.features):
        drivers = explain_drivers(inputs.bundle, inputs.features, cfg, seed)
    sections = [
        summary_section(inputs, as_of),
        model_card_section(inputs),
        global_drivers_section(drivers, sample_rows, seed),
        tier_drivers_section(scores, drivers),
        dependence_section(drivers, sample_rows, seed),
        tier_value_section(scores),
        retention_section(inputs),
    ]
    subtitle = f"{cfg.name} · scores as of {as_of:%Y-%m-%d} · model {inputs.model_label or '—'}"
    return page.render(
        "Churn drivers report",
        subtitle,
        sections,
        footer="Generated by `churn report`. Figures use exact TreeSHAP contributions; "
        "no customer-identifying information is shown.",
    )


def _percent(value: object) -> str:
    return f"{float(value):.1%}"


def _money(value: object) -> str:
    return f"{float(value):,.0f}"


def summary_section(inputs: ReportInputs, as_of: pd.Timestamp) -> page.Section:
    """Headline numbers."""
    tiers = numbers.tier_summary(inputs.scores)
    section = page.Section("summary", "Summary")
    section.add(
        page.cards(
            [
                ("scored on", f"{as_of:%Y-%m-%d}"),
                ("customers scored", f"{len(inputs.scores):,}"),
                ("mean churn probability", _percent(inputs.scores["churn_probability"].mean())),
                ("high tier: act now", f"{tiers.at['high', 'customers']:,}"),
                ("revenue at risk, high", _money(tiers.at["high", "expected_revenue_at_risk"])),
                ("revenue at risk, all", _money(inputs.scores["expected_loss"].sum())),
            ]
        )
    )
    for note in inputs.notes:
        section.add(page.paragraph(note, "note"))
    return section


def model_card_section(inputs: ReportInputs) -> page.Section:
    """Data window, cutoffs, horizon, out-of-time metrics, calibration, lift and capture."""
    cfg = inputs.cfg
    section = page.Section(
        "model",
        "Model card",
        "How the model was trained and how it did on the out-of-time test: the latest cutoff "
        "whose outcome is known, never seen in training.",
    )
    evaluation = inputs.evaluation
    facts = {
        "model": inputs.model_label or "—",
        "label horizon": f"{cfg.snapshots.horizon_days} days after each cutoff",
        "feature lookback": f"{cfg.snapshots.lookback_days} days before each cutoff",
        "churn definition": cfg.churn.source,
    }
    if evaluation:
        split = evaluation.get("split", {})
        data = evaluation.get("data", {})
        cutoffs = split.get("cutoffs", {})
        if data.get("date_range"):
            facts["data window (cutoffs)"] = " to ".join(data["date_range"])
        for part in ("train", "valid", "test"):
            if cutoffs.get(part):
                facts[f"{part} cutoffs"] = ", ".join(cutoffs[part])
        facts["split"] = split.get("description", "—")
        facts["test rows"] = f"{split.get('test_rows', 0):,} (churn rate " + (
            f"{split.get('test_churn_rate', float('nan')):.1%})"
        )
        facts["calibration"] = str(evaluation.get("calibrator", "—"))
        if evaluation.get("gate"):
            facts["promotion gate"] = f"{evaluation['gate'].get('status')}"
    fact_table = pd.DataFrame({"value": list(facts.values())}, index=list(facts))
    section.add(page.table(fact_table, index_label="", table_id="model-facts", css="facts"))
    if evaluation and "model" in evaluation:
        columns = {"model": evaluation["model"]}
        if "baseline" in evaluation:
            columns["baseline (logistic regression)"] = evaluation["baseline"]
        metric_table = pd.DataFrame(
            {
                label: [column.get(key, np.nan) for key, _ in METRICS]
                for label, column in columns.items()
            },
            index=[name for _, name in METRICS],
        )
        section.add(
            page.heading("Out-of-time test: model against the baseline"),
            page.table(
                metric_table,
                {c: (lambda v: f"{float(v):.4f}") for c in metric_table.columns},
                table_id="metrics",
                index_label="metric",
            ),
            page.paragraph(
                "Higher is better for AUCs, lift and capture; lower for log loss, Brier and ECE.",
                "note",
            ),
        )
    else:
        section.add(page.paragraph("No evaluation record was found for this model.", "note"))
    if inputs.bundle is not None and inputs.test_rows is not None:
        label = inputs.test_rows["churned"].to_numpy()
        probability = inputs.bundle.predict_proba(inputs.test_rows)
        section.add(
            page.grid(
                page.image(
                    figures.calibration_curve(numbers.calibration_table(label, probability)),
                    "calibration curve",
                    "Calibration on the out-of-time test: points on the diagonal mean the "
                    "probabilities can be read as churn rates.",
                ),
                page.image(
                    figures.capture_chart(numbers.lift_table(label, probability)),
                    "capture chart",
                    "Contacting the riskiest customers first: the share of churners caught.",
                ),
                page.image(
                    figures.lift_chart(numbers.lift_table(label, probability)),
                    "lift chart",
                    "Churn rate among those contacted, over the base rate.",
                ),
            )
        )
    return section


def _sample(drivers: Drivers, rows: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    names = list(drivers.families)
    chosen = drivers.shown.sample(n=min(rows, len(drivers.shown)), random_state=seed).index
    values = drivers.contributions.loc[chosen, names].to_numpy()
    return values, drivers.shown.loc[chosen, names]


def global_drivers_section(drivers: Drivers | None, sample_rows: int, seed: int) -> page.Section:
    """Beeswarm and mean |SHAP| by feature and by signal family."""
    section = page.Section(
        "drivers",
        "Global churn drivers",
        "What moves churn risk across all scored customers. Each dot in the beeswarm is a "
        "customer: right of zero pushes risk up, colour is the feature's value. Values are "
        "exact TreeSHAP contributions in log-odds.",
    )
    if drivers is None:
        return section.add(page.paragraph("Needs the model and the dataset (--data).", "note"))
    values, shown = _sample(drivers, sample_rows, seed)
    top = drivers.by_feature.head(15)
    table = pd.DataFrame(
        {
            "signal family": [drivers.families[name] for name in top.index],
            "mean |SHAP|": top.to_numpy(),
        },
        index=pd.Index(top.index, name="feature"),
    )
    section.add(
        page.image(
            figures.shap_beeswarm(values, shown),
            "SHAP beeswarm",
            f"A sample of {len(shown):,} scored customers.",
        ),
        page.grid(
            page.image(figures.shap_bar(values, shown), "mean absolute SHAP by feature"),
            page.image(
                figures.horizontal_bars(drivers.by_family, "mean |SHAP| of the family's sum"),
                "mean absolute SHAP by signal family",
                "By signal family: contributions summed within each family per customer.",
            ),
        ),
        page.heading("Top features"),
        page.table(table, {"mean |SHAP|": lambda v: f"{float(v):.4f}"}, "global-drivers"),
    )
    return section


def tier_drivers_section(scores: pd.DataFrame, drivers: Drivers | None) -> page.Section:
    """What pushes the high and medium tiers, their reason codes and suggested actions."""
    section = page.Section(
        "tiers-drivers",
        "Drivers per tier",
        "High = act now, medium = nurture. Bars show the features pushing these customers' "
        "risk up most (mean SHAP within the tier); tables count reason codes among each "
        "customer's top three and the suggested action.",
    )
    per_tier = (
        numbers.tier_drivers(
            drivers.contributions, scores.set_index("customer_id")["tier"], list(drivers.families)
        )
        if drivers is not None
        else {}
    )
    for tier in numbers.TIERS[:2]:
        size = int((scores["tier"] == tier).sum())
        section.add(page.heading(f"{tier.capitalize()} tier ({size:,} customers)"))
        if size == 0:
            section.add(page.paragraph("No customer is in this tier today.", "note"))
            continue
        cells = []
        if tier in per_tier and len(per_tier[tier]):
            cells.append(
                page.image(
                    figures.horizontal_bars(per_tier[tier], "mean SHAP in the tier (log-odds)"),
                    f"drivers of the {tier} tier",
                )
            )
        share = {"share": _percent}
        reasons = numbers.reason_counts(scores, tier).set_index("reason")
        actions = numbers.action_counts(scores, tier).set_index("action")
        cells.append(
            page.table(reasons, share, f"reasons-{tier}")
            + page.table(actions, share, f"actions-{tier}")
        )
        section.add(page.grid(*cells))
    return section


def dependence_section(drivers: Drivers | None, sample_rows: int, seed: int) -> page.Section:
    """Dependence plots of the top features."""
    section = page.Section(
        "dependence",
        "How the top features act",
        f"For the {DEPENDENCE_FEATURES} strongest features: each customer's value (x) against "
        "its contribution to risk (y). Above zero raises risk.",
    )
    if drivers is None:
        return section.add(page.paragraph("Needs the model and the dataset (--data).", "note"))
    values, shown = _sample(drivers, sample_rows, seed)
    names = list(drivers.families)
    plots = [
        page.image(figures.dependence_plot(name, values, shown), f"dependence plot of {name}")
        for name in drivers.by_feature.index[:DEPENDENCE_FEATURES]
        if name in names
    ]
    return section.add(page.grid(*plots))


def tier_value_section(scores: pd.DataFrame) -> page.Section:
    """The tier table and the risk x value matrix."""
    section = page.Section(
        "tiers",
        "Tiers and revenue at risk",
        "Tiers come from expected revenue at risk (churn probability x customer value).",
    )
    summary = numbers.tier_summary(scores)
    summary = summary[
        ["customers", "share", "mean_churn_probability", "total_value", "expected_revenue_at_risk"]
    ]
    summary.columns = [
        "customers",
        "share",
        "mean churn probability",
        "value",
        "expected revenue at risk",
    ]
    section.add(
        page.table(
            summary,
            {
                "share": _percent,
                "mean churn probability": _percent,
                "value": _money,
                "expected revenue at risk": _money,
            },
            "tier-table",
            row_class=lambda key: f"tier-{key}",
        )
    )
    counts, money = numbers.tier_value_matrix(scores)
    counts.index.name = "risk \\ value"
    money.index.name = "risk \\ value"
    section.add(
        page.grid(
            page.heading("Customers: risk band x value band")
            + page.table(counts, table_id="matrix-counts", total_row="all"),
            page.heading("Expected revenue at risk: risk band x value band")
            + page.table(
                money,
                {c: _money for c in map(str, money.columns)},
                "matrix-money",
                total_row="all",
            ),
        )
    )
    return section


def retention_section(inputs: ReportInputs, months_shown: int = 12) -> page.Section:
    """Churn, retention and revenue churn by month, and the cohort table."""
    section = page.Section(
        "retention",
        "Retention by month",
        "Churn rate = customers lost in the month / customers at its start x 100; retention "
        "rate = (customers at the end - new customers) / customers at the start x 100; revenue "
        "churn = last month's revenue of the customers lost / that of all customers at the "
        "start x 100. Only complete calendar months (UTC). Changes are in percentage points.",
    )
    if inputs.lifetimes is None or inputs.until is None:
        return section.add(page.paragraph("Needs the dataset (--data).", "note"))
    kpis = retention.monthly_kpis(inputs.lifetimes, inputs.revenue, inputs.until)
    kpis = kpis[kpis["customers_start"] > 0]
    if kpis.empty:
        return section.add(page.paragraph("No complete month with customers yet.", "note"))
    section.add(page.image(figures.monthly_rates(kpis), "churn and retention by month"))
    indexed = kpis.set_index("month")
    comparison = pd.DataFrame(index=indexed.index)
    for column, label in (
        ("churn_rate", "churn"),
        ("retention_rate", "retention"),
        ("revenue_churn", "revenue churn"),
    ):
        compared = retention.compare_periods(indexed[column])
        comparison[f"{label} %"] = compared["value"]
        comparison[f"{label} vs prev. month"] = compared["change_vs_previous_month"]
        comparison[f"{label} vs year before"] = compared["change_vs_last_year"]
    comparison.insert(0, "customers at start", indexed["customers_start"])
    comparison.insert(1, "lost", indexed["lost_customers"])
    comparison.insert(2, "new", indexed["new_customers"])
    comparison = comparison.tail(months_shown).iloc[::-1]
    comparison.index = [f"{m:%Y-%m}" for m in comparison.index]
    signed = {c: (lambda v: f"{float(v):+.2f}") for c in comparison.columns if " vs " in c}
    plain = {c: (lambda v: f"{float(v):.2f}") for c in comparison.columns if c.endswith("%")}
    counts = {c: (lambda v: f"{int(v):,}") for c in ("customers at start", "lost", "new")}
    section.add(page.table(comparison, {**signed, **plain, **counts}, "retention-table", "month"))
    cohorts = retention.cohort_retention(inputs.lifetimes, inputs.until)
    cohorts = cohorts[cohorts.index >= inputs.until - pd.DateOffset(months=24)]
    if len(cohorts):
        section.add(
            page.heading("Cohorts: % of each signup month still customers"),
            page.image(figures.cohort_heatmap(cohorts), "cohort retention table"),
            page.heading("Cohorts compared: retention after 1 and 3 months"),
            page.table(
                cohort_comparison(cohorts),
                table_id="cohort-table",
                index_label="signup month",
            ),
        )
    return section


def cohort_comparison(cohorts: pd.DataFrame, months: tuple[int, ...] = (1, 3)) -> pd.DataFrame:
    """Retention after k months per cohort, against the previous cohort and a year before."""
    table = pd.DataFrame(index=cohorts.index)
    table["customers"] = cohorts["customers"].astype("int64")
    for k in months:
        if k not in cohorts.columns:
            continue
        compared = retention.compare_periods(cohorts[k])
        table[f"month {k} %"] = compared["value"].round(2)
        table[f"month {k} vs prev. cohort"] = compared["change_vs_previous_month"].round(2)
        table[f"month {k} vs year before"] = compared["change_vs_last_year"].round(2)
    table = table.iloc[::-1]
    table.index = [f"{m:%Y-%m}" for m in table.index]
    return table


# ---------- the job ----------


def run_report(
    scores: Path,
    out: Path,
    cfg: Config,
    model: str | None = None,
    data: Path | None = None,
    log_to_mlflow: bool = True,
) -> Path:
    """`churn report`: read scores, model and data, write the HTML atomically, log it to mlflow."""
    from models.registry import load_bundle

    frame, manifest = load_scores(scores)
    # Default to the very model and dataset that produced the scores.
    uri = model or manifest.get("model", {}).get("uri")
    if uri is None:
        from models.registry import resolve_model_uri

        uri = resolve_model_uri(None, cfg.training.model_name)
    source = data or (Path(manifest["data"]["source"]) if "data" in manifest else None)
    if source is not None and not Path(source).exists():
        log.warning("dataset %s from the scores manifest is gone: drivers not shown", source)
        source = None
    bundle = load_bundle(uri)
    evaluation = load_evaluation(uri)
    inputs = gather_inputs(frame, cfg, bundle, evaluation, source)
    inputs.model_label = manifest.get("model", {}).get("version") or uri
    text = build_report(inputs, seed=cfg.training.seed)
    with atomic_file(Path(out)) as staging:
        Path(staging).write_text(text, encoding="utf-8")
        staging.chmod(0o644)  # a report is for reading: not the temp file's owner-only mode
    log.info("report written to %s", out)
    if log_to_mlflow:
        _log_report(uri, Path(out))
    return Path(out)


def _log_report(uri: str, path: Path) -> None:
    """Attach the report to the model's training run, beside the evaluation record."""
    run_id = _model_run_id(uri)
    if run_id is None:
        return
    from mlflow import MlflowClient

    MlflowClient().log_artifact(run_id, str(path), "report")
    log.info("report logged to mlflow run %s", run_id)
