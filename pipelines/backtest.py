"""`churn backtest`, as wiring: every scored night under a scores folder against what happened.

The scores are read as they were written that night (never re-scored); the labels come from the
snapshot code at the night's date, so churn means what it meant in training. Nights whose label
horizon has not passed in the data are pending, with what their probabilities alone expect.
Nights whose scores hold a control group also get, per acted-on tier, treated against control.
The ledger goes to `OUT/backtest/` (Parquet and JSON) and to mlflow, without a customer id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table

from features.config import Config
from features.dataset import Dataset
from features.errors import ChurnError, RetrainRecommended
from models.backtest import ACTED_TIERS, ledger_frame, ledger_row
from pipelines import catalog
from pipelines.manifest import ScoreManifest
from reporting.numbers import campaign_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestOutputs:
    ledger: pd.DataFrame
    folder: Path
    observed_until: pd.Timestamp
    run_id: str | None

    def flagged(self) -> pd.DataFrame:
        return self.ledger[self.ledger["retrain_recommended"].fillna(False).astype(bool)]

    def raise_if_flagged(self) -> None:
        """Exit code 6 once everything is written: which nights, and why."""
        flagged = self.flagged()
        if len(flagged):
            nights = "; ".join(f"{row.as_of}: {row.reasons}" for row in flagged.itertuples())
            raise RetrainRecommended(f"retrain recommended ({len(flagged)} night(s)): {nights}")


def night_labels(
    dataset: Dataset, cfg: Config, as_of: pd.Timestamp, until: pd.Timestamp
) -> pd.DataFrame | None:
    """customer_id and churned of the night's snapshot, or None while its horizon is open."""
    from features.snapshots import build_snapshot, is_labelled

    if not is_labelled(as_of, until, cfg):
        return None
    snapshot = build_snapshot(dataset, cfg, as_of, until).select("customer_id", "churned")
    labels = snapshot.to_pyarrow().to_pandas()
    # Given labels (churn.source: labels) may simply not exist yet for this date.
    return None if labels["churned"].isna().all() else labels


def model_test_auc(manifest: ScoreManifest | None, cache: dict[str, float | None]) -> float | None:
    """The out-of-time test ROC AUC in the evaluation record of the model behind a night."""
    if manifest is None:
        return None
    uri = manifest.model_uri
    if uri not in cache:
        record = catalog.load_evaluation(uri) or {}
        cache[uri] = (record.get("model") or {}).get("roc_auc")
        if cache[uri] is None:
            log.warning("no test AUC recorded for %s: its nights are not checked on AUC", uri)
    return cache[uri]


def run_backtest(
    data: Path, scores: Path, out: Path, cfg: Config, var_dir: Path, log_to_mlflow: bool = True
) -> BacktestOutputs:
    """`churn backtest`: the ledger of every scored night, written to `out/backtest/`."""
    from features.snapshots import observed_until

    days = catalog.scored_days(scores)
    if not days:
        raise ChurnError(
            f"scores {catalog.scores_root(scores)}: no as_of=YYYY-MM-DD folder with Parquet "
            "parts; run `churn score --out DIR` for past nights first and pass that DIR"
        )
    catalog.use_model_store(var_dir)
    rows, aucs = [], {}
    with catalog.dataset(data, cfg) as dataset:
        until = observed_until(dataset, cfg)
        for day in days:
            frame, manifest = catalog.load_scores(scores, day)
            labels = night_labels(dataset, cfg, pd.Timestamp(day, tz="UTC"), until)
            row = ledger_row(day, frame, labels, cfg.backtest, model_test_auc(manifest, aucs))
            if row.get("unlabelled_rows"):
                log.warning(
                    "%s: %d scored customer(s) are not in the label snapshot (counted in "
                    "unlabelled_rows, left out of the metrics)",
                    day,
                    row["unlabelled_rows"],
                )
            if row.get("unjudged_tiers"):
                log.warning(
                    "%s: tier(s) %s were acted on with no control group: the model is judged "
                    "without them (unjudged_tiers); raise decisions.control_share",
                    day,
                    row["unjudged_tiers"],
                )
            rows.append(row)
    ledger = ledger_frame(rows)
    record = {
        "observed_until": f"{until:%Y-%m-%d}",
        "horizon_days": cfg.snapshots.horizon_days,
        "data": str(data),
        "scores": str(catalog.scores_root(scores)),
        "settings": cfg.backtest.model_dump(mode="json"),
        "nights": rows,
    }
    folder = catalog.write_ledger(ledger, record, out)
    log.info("backtest ledger of %d night(s) written to %s", len(ledger), folder)
    run_id = log_run(ledger, folder, cfg, var_dir, until) if log_to_mlflow else None
    return BacktestOutputs(ledger, folder, until, run_id)


def log_run(
    ledger: pd.DataFrame, folder: Path, cfg: Config, var_dir: Path, until: pd.Timestamp
) -> str:
    """One mlflow run in the model's experiment: settings, counts, the latest matured night's
    figures and the ledger files (per-night figures live in the ledger table)."""
    import mlflow

    from models.registry import use_experiment

    use_experiment(var_dir, cfg.training.model_name)
    matured = ledger[ledger["status"] == "matured"]
    metrics = {
        "nights": len(ledger),
        "nights_matured": len(matured),
        "nights_pending": int((ledger["status"] == "pending").sum()),
        "nights_retrain_recommended": len(BacktestOutputs(ledger, folder, until, None).flagged()),
    }
    if len(matured):
        latest = matured.iloc[-1]
        lift = tuple(f"tier_{tier}_treated_minus_control" for tier in ACTED_TIERS)
        for key in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "observed_to_expected", *lift):
            if pd.notna(latest.get(key)):
                metrics[f"latest_{key}"] = float(latest[key])
    # Named like the train and score runs: the job, the dataset, the day.
    with mlflow.start_run(run_name=f"backtest {cfg.name} {until:%Y-%m-%d}") as run:
        mlflow.set_tags(
            {"churn.job": "backtest", "dataset": cfg.name, "observed_until": f"{until:%Y-%m-%d}"}
        )
        mlflow.log_params(
            {f"backtest.{k}": v for k, v in cfg.backtest.model_dump(mode="json").items()}
        )
        mlflow.log_metrics(metrics)
        for name in ("ledger.parquet", "ledger.json"):
            mlflow.log_artifact(str(folder / name), "backtest")
    log.info("backtest logged to mlflow run %s", run.info.run_id)
    return run.info.run_id


def _number(value, digits: int = 3) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def ledger_table(ledger: pd.DataFrame) -> RenderableType:
    """The nights at a glance, in 80 columns: estimate beside outcome, the high tier, the flag;
    below, treated against control for the nights that held a control group."""
    table = Table(
        title="backtest: nightly scores against outcomes",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0, 0, 1),  # with the blank separator: two spaces between columns
        pad_edge=False,
    )
    columns = (
        "as_of", "rows", "expected\nchurners", "observed\nchurners", "obs/\nexp", "ROC\nAUC",
        "ECE", "high tier\nexp/obs", "retrain",
    )  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "as_of" else "right", no_wrap=True)
    for row in ledger.to_dict("records"):
        observed = "pending" if pd.isna(row.get("churners")) else f"{int(row['churners']):,}"
        table.add_row(
            str(row["as_of"]),
            f"{int(row['rows']):,}",
            f"{row['expected_churners']:.1f}±{row['expected_churners_sd']:.1f}",
            observed,
            _number(row.get("observed_to_expected"), 2),
            _number(row.get("roc_auc")),
            _number(row.get("ece")),
            f"{_number(row.get('tier_high_expected_precision'), 2)}/"
            f"{_number(row.get('tier_high_precision'), 2)}",
            "yes" if row["retrain_recommended"] is True else "no",
        )
    models = ledger[["model_version", "model_test_auc"]].drop_duplicates()
    caption = [
        f"model {m.model_version}: test AUC {_number(m.model_test_auc)}"
        for m in models.itertuples()
    ]
    if "judged_rows" in ledger and (ledger["judged_rows"] != ledger["labelled_rows"]).any():
        caption.append(
            "obs/exp and ROC AUC of nights with a control group: among customers nobody acted "
            "on, control groups weighted to their tiers (ledger: judged_*)"
        )
    table.caption = "; ".join(caption)
    campaigns = campaign_table(ledger)
    return table if campaigns is None else Group(table, campaigns)


def campaign_table(ledger: pd.DataFrame) -> Table | None:
    """Per matured night and acted-on tier: churn of treated and control customers and the
    difference with its 95% interval (None when no night held a control group)."""
    campaigns = campaign_frame(ledger)
    if campaigns.empty:
        return None
    table = Table(
        title="treated against control: churn rates",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0, 0, 1),
        pad_edge=False,
    )
    for name in ("as_of", "tier", "treated", "control", "treated\nchurn", "control\nchurn"):
        table.add_column(name, justify="left" if name in ("as_of", "tier") else "right")
    table.add_column("treated - control [95% CI]", justify="right", no_wrap=True)
    for row in campaigns.itertuples():
        table.add_row(
            row.night,
            row.tier,
            f"{int(row.treated):,}",
            f"{int(row.control):,}",
            _number(row.treated_churn_rate),
            _number(row.control_churn_rate),
            f"{_number(row.difference)} [{_number(row.low)}, {_number(row.high)}]",
        )
    table.caption = "negative: fewer treated customers churned (the action retained them)"
    return table
