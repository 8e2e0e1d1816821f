"""The catalog: every read and write the jobs make, in one place.

Datasets are opened one way (validated, cleaned, DuckDB's memory bounded); models are found
through one mlflow store; nightly scores are published per day, whole or not at all; run
folders, matrices and reports are written atomically. Jobs call these and pure steps, nothing
else touches files or mlflow.
"""

from pipelines.catalog.datasets import (
    consent,
    dataset,
    validated,
    validation_report,
    write_csv,
    write_matrix,
)
from pipelines.catalog.locks import DayLockedError
from pipelines.catalog.model_store import (
    ResolvedModel,
    load_evaluation,
    log_report,
    model_run_id,
    resolve_model,
    run_folder,
    study_folder,
    use_model_store,
)
from pipelines.catalog.publish import checkpoint, day_lock, resolve_day
from pipelines.catalog.reports import write_report
from pipelines.catalog.scores import (
    MANIFEST,
    SCORES_ARROW,
    day_folder,
    find_ledger,
    load_decided_scores,
    load_scores,
    night_manifests,
    previous_night,
    publish_day,
    rows_written,
    scored_days,
    scores_root,
    write_ledger,
    write_manifest,
    write_scores_part,
)

__all__ = [
    "MANIFEST",
    "SCORES_ARROW",
    "DayLockedError",
    "ResolvedModel",
    "checkpoint",
    "consent",
    "dataset",
    "day_folder",
    "day_lock",
    "find_ledger",
    "load_decided_scores",
    "load_evaluation",
    "load_scores",
    "log_report",
    "model_run_id",
    "night_manifests",
    "previous_night",
    "publish_day",
    "resolve_day",
    "resolve_model",
    "rows_written",
    "run_folder",
    "scored_days",
    "scores_root",
    "study_folder",
    "use_model_store",
    "validated",
    "validation_report",
    "write_csv",
    "write_ledger",
    "write_manifest",
    "write_matrix",
    "write_report",
    "write_scores_part",
]
