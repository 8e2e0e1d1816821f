"""The nightly run as Dagster assets (optional: `pip install -e '.[dagster]'`).

validate -> score -> report -> backtest, each a thin wrapper around the job the `churn` command
runs, so a failure stops the assets after it, as `set -e` does in the cron recipe. Settings come
from one resource, `churn` (defaults from CHURN_DATA, CHURN_CONFIG, CHURN_VAR_DIR, CHURN_MODEL):

    dagster dev -m pipelines.dagster_defs          # UI, the nightly job and its 02:30 UTC schedule
    dagster job execute -m pipelines.dagster_defs -j churn_nightly

Scores go to VAR/scores/, the report to VAR/reports/churn-report.html, the ledger to
VAR/backtest/, exactly where `make train` and the cron recipe put them. A night that recommends
retraining (exit 6 on the command line) materialises with `retrain_recommended` in its metadata
and a warning in the run's log; feed, drift and contract failures fail the asset.
"""

# No `from __future__ import annotations`: Dagster reads the annotations at definition time.
import os
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    Definitions,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    asset,
    define_asset_job,
    schedule,
)

from features.config import Config, load_config
from pipelines import catalog
from pipelines.cli_options import bound_tracking_requests, forbid_pickle

GROUP = "churn_nightly"
AS_OF_TAG = "churn/as_of"  # set by the schedule: the day of its tick


class ChurnNight(ConfigurableResource):
    """What the cron recipe passes as options: the dataset, config, var dir and scoring date."""

    data: str
    config: str | None = None
    var_dir: str = "var"
    as_of: str | None = None  # YYYY-MM-DD for manual runs; a scheduled run uses its tick's day
    model: str | None = None  # default: the champion of training.model_name
    allow_drift: bool = False

    def setup_for_execution(self, context) -> None:
        # What the `churn` command sets at its edge: bounded mlflow requests, no pickles.
        forbid_pickle()
        bound_tracking_requests()

    def cfg(self) -> Config:
        return load_config(Path(self.config) if self.config else None)

    def day(self, tags: dict[str, str] | None = None) -> pd.Timestamp:
        """The scoring date: the schedule's tick day, else `as_of`, else today (UTC)."""
        scheduled = (tags or {}).get(AS_OF_TAG)
        if scheduled:
            return pd.Timestamp(scheduled, tz="UTC")
        if self.as_of:
            return pd.Timestamp(self.as_of, tz="UTC")
        return pd.Timestamp.now(tz="UTC").normalize()

    @property
    def var(self) -> Path:
        return Path(self.var_dir)


@asset(group_name=GROUP)
def validated_data(churn: ChurnNight) -> MaterializeResult:
    """`churn validate`: the dataset against the data contract (fails listing every problem)."""
    report = catalog.validation_report(Path(churn.data), churn.cfg())
    return MaterializeResult(
        metadata={
            "customers": report.customers,
            "events_kept": report.events_kept,
            "duplicate_events_dropped": report.duplicate_events_dropped,
            "warnings": len(report.warnings),
        }
    )


@asset(group_name=GROUP, deps=[validated_data])
def nightly_scores(context: AssetExecutionContext, churn: ChurnNight) -> MaterializeResult:
    """`churn score --out VAR`: the day's scores, published whole."""
    from pipelines.score import run_score
    from pipelines.score_tracking import track_score

    catalog.use_model_store(churn.var, create=False)
    day = churn.day(context.run.tags)
    cfg = churn.cfg()
    result = run_score(Path(churn.data), cfg, day, churn.var, churn.model, churn.allow_drift)
    manifest = result.manifest
    run_id = track_score(manifest, cfg)  # after the day is published; a failure is one warning
    return MaterializeResult(
        metadata={
            "folder": str(result.folder),
            "mlflow_run": run_id or "not tracked",
            "rows": manifest.rows,
            "model_version": manifest.model_version,
            "drift": manifest.drift.status,
            "retrain_recommended": bool(manifest.drift.retrain_recommended),
        }
    )


@asset(group_name=GROUP, deps=[nightly_scores])
def churn_report(churn: ChurnNight) -> MaterializeResult:
    """`churn report --scores VAR`: the HTML report of the latest scored day."""
    from pipelines.report import run_report

    catalog.use_model_store(churn.var, create=False)
    out = churn.var / "reports" / "churn-report.html"
    path = run_report(churn.var, out, churn.cfg())
    return MaterializeResult(metadata={"path": str(path)})


@asset(group_name=GROUP, deps=[nightly_scores])
def backtest_ledger(context: AssetExecutionContext, churn: ChurnNight) -> MaterializeResult:
    """`churn backtest --scores VAR --out VAR`: every past night against matured outcomes."""
    from pipelines.backtest import run_backtest

    result = run_backtest(Path(churn.data), churn.var, churn.var, churn.cfg(), churn.var)
    flagged = result.flagged()
    for row in flagged.itertuples():
        context.log.warning(f"retrain recommended ({row.as_of}): {row.reasons}")
    return MaterializeResult(
        metadata={
            "folder": str(result.folder),
            "nights": len(result.ledger),
            "matured": int((result.ledger["status"] == "matured").sum()),
            "retrain_recommended": bool(len(flagged)),
        }
    )


ASSETS = [validated_data, nightly_scores, churn_report, backtest_ledger]
nightly_job = define_asset_job("churn_nightly", selection=ASSETS)


@schedule(job=nightly_job, cron_schedule="30 2 * * *", execution_timezone="UTC")
def churn_nightly_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Each tick scores its own day (UTC midnight of the scheduled time), so a run that starts
    late, or a missed tick run afterwards, still scores the night it was meant for."""
    tick = pd.Timestamp(context.scheduled_execution_time)
    tick = tick.tz_localize("UTC") if tick.tzinfo is None else tick.tz_convert("UTC")
    day = tick.normalize().strftime("%Y-%m-%d")
    return RunRequest(run_key=day, tags={AS_OF_TAG: day})


defs = Definitions(
    assets=ASSETS,
    jobs=[nightly_job],
    schedules=[churn_nightly_schedule],
    resources={
        "churn": ChurnNight(
            data=os.environ.get("CHURN_DATA", "var/data/synthetic"),
            config=os.environ.get("CHURN_CONFIG"),
            var_dir=os.environ.get("CHURN_VAR_DIR", "var"),
            model=os.environ.get("CHURN_MODEL"),
        )
    },
)
