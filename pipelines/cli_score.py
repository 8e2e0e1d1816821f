"""`churn score`: the nightly job, then its mlflow run (which never costs the night)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from pipelines.cli_options import (
    AllowCodeChangeOption,
    AllowDriftOption,
    ConfigOption,
    DataOption,
    EngineName,
    EngineOption,
    ModelOption,
    SparkConfOption,
    SparkMasterOption,
    VarDirOption,
    console,
    friendly_errors,
    load,
    parse_spark_conf,
)


@friendly_errors
def score(
    data: DataOption,
    as_of: Annotated[
        datetime,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Scoring date (UTC midnight): who is active then; features use events before it.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder; scores go to OUT/scores/as_of=DATE/.")],
    config: ConfigOption = None,
    model: ModelOption = None,
    allow_drift: AllowDriftOption = False,
    allow_code_change: AllowCodeChangeOption = False,
    var_dir: VarDirOption = Path("var"),
    engine: EngineOption = EngineName.duckdb,
    spark_master: SparkMasterOption = "local[*]",
    spark_conf: SparkConfOption = None,
) -> None:
    """Score every active customer: calibrated risk, reason codes, value and tiers (atomic);
    then log the night as an mlflow run ("score <dataset> <as_of>") in the model's experiment."""
    from pipelines import catalog
    from pipelines.score import EngineChoice, run_score
    from pipelines.score_tracking import track_score

    cfg = load(config)
    choice = EngineChoice(engine.value, spark_master, parse_spark_conf(spark_conf))
    catalog.use_model_store(var_dir, create=False)
    result = run_score(
        data, cfg, pd.Timestamp(as_of, tz="UTC"), out, model, allow_drift, choice, allow_code_change
    )
    manifest = result.manifest
    run_id = track_score(manifest, cfg)  # after the day is published; a failure is one warning
    money = cfg.decisions.currency
    tiers = ", ".join(
        f"{tier} {counts['customers']:,} customers ({money} {counts['revenue_at_risk']:,.0f} "
        "revenue at risk)"
        for tier, counts in manifest.tiers.items()
    )
    lines = [
        f"scores:  {result.folder} ({manifest.rows:,} customers)",
        f"model:   {manifest.model_version}",
        f"tiers:   {tiers}",
        f"drift:   {manifest.drift.status} (score PSI {manifest.drift.score} against the "
        f"{manifest.drift.reference})"
        + ("; retrain recommended" if manifest.drift.retrain_recommended else ""),
        f"time:    {manifest.timings_seconds['total']:.1f} s",
        f"mlflow:  {'run ' + run_id if run_id else 'not tracked (see the warning)'}",
    ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
