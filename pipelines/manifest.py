"""The record of a scored day (`manifest.json` beside its parts), as a typed object.

Readers (the CLI, the report, benchmarks) use attributes, not nested string keys; the JSON
keeps its published shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from features.config import Config
from models.drift import DriftSummary

if TYPE_CHECKING:
    from pipelines.catalog import ResolvedModel


@dataclass(frozen=True)
class ScoreManifest:
    as_of: str  # YYYY-MM-DD
    model_uri: str
    model_version: str
    code_version: str
    config_fingerprint: str
    data_source: str
    data_hash: str  # of the day's feature matrix; never a customer id in clear
    data_rows: int
    data_columns: int
    rows: int
    active_customers: int
    tiers: dict[str, dict]  # tier -> customers, revenue_at_risk, value
    drift: DriftSummary
    lightgbm_threads: int
    explainer: str
    chunk_customers: int
    timings_seconds: dict[str, float]
    customers_per_second: float
    # What validation dropped (exact duplicates, unknown customers' events), counts only.
    data_quality: dict = field(default_factory=dict)
    # The feature-code check: same, changed (scored with --allow-code-change), or unchecked.
    feature_code: dict = field(default_factory=dict)
    # The currency of the day's money columns (decisions.currency when it was scored).
    currency: str | None = None
    # Feed health as checked before scoring (features.feed.feed_record).
    feed: dict = field(default_factory=dict)

    @classmethod
    def for_day(
        cls,
        as_of: pd.Timestamp,
        resolved: ResolvedModel,
        cfg: Config,
        source: str,
        data_hash: str,
        shape: tuple[int, int],
        written: int,
        active: int,
        tiers: dict[str, dict],
        drift: DriftSummary,
        threads: int,
        seconds: dict[str, float],
        data_quality: dict | None = None,
        feature_code: dict | None = None,
        feed: dict | None = None,
    ) -> ScoreManifest:
        from models.registry import git_commit

        return cls(
            as_of=f"{as_of:%Y-%m-%d}",
            model_uri=resolved.uri,
            model_version=resolved.version,
            code_version=git_commit(),
            config_fingerprint=cfg.fingerprint(),
            data_source=source,
            data_hash=data_hash,
            data_rows=shape[0],
            data_columns=shape[1],
            rows=written,
            active_customers=active,
            tiers=tiers,
            drift=drift,
            lightgbm_threads=threads,
            explainer=cfg.scoring.explainer,
            chunk_customers=cfg.scoring.chunk_customers,
            timings_seconds={key: round(value, 3) for key, value in seconds.items()},
            customers_per_second=round(written / max(seconds.get("total", 0.0), 1e-9), 1),
            data_quality=data_quality or {},
            feature_code=feature_code or {},
            currency=cfg.decisions.currency,
            feed=feed or {},
        )

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of,
            "model": {"uri": self.model_uri, "version": self.model_version},
            "code_version": self.code_version,
            "config_fingerprint": self.config_fingerprint,
            "data": {
                "source": self.data_source,
                "hash": self.data_hash,
                "rows": self.data_rows,
                "columns": self.data_columns,
            },
            "rows": self.rows,
            "active_customers": self.active_customers,
            "tiers": self.tiers,
            "drift": self.drift.to_dict(),
            "lightgbm_threads": self.lightgbm_threads,
            "explainer": self.explainer,
            "chunk_customers": self.chunk_customers,
            "timings_seconds": self.timings_seconds,
            "customers_per_second": self.customers_per_second,
            "data_quality": self.data_quality,
            "feature_code": self.feature_code,
            "currency": self.currency,
            "feed": self.feed,
        }

    @classmethod
    def from_dict(cls, entry: dict) -> ScoreManifest:
        return cls(
            as_of=entry["as_of"],
            model_uri=entry["model"]["uri"],
            model_version=entry["model"]["version"],
            code_version=entry["code_version"],
            config_fingerprint=entry["config_fingerprint"],
            data_source=entry["data"]["source"],
            data_hash=entry["data"]["hash"],
            data_rows=entry["data"]["rows"],
            data_columns=entry["data"]["columns"],
            rows=entry["rows"],
            active_customers=entry["active_customers"],
            tiers=entry["tiers"],
            drift=DriftSummary.from_dict(entry["drift"]),
            lightgbm_threads=entry["lightgbm_threads"],
            explainer=entry["explainer"],
            chunk_customers=entry["chunk_customers"],
            timings_seconds=entry["timings_seconds"],
            customers_per_second=entry["customers_per_second"],
            data_quality=entry.get("data_quality", {}),
            feature_code=entry.get("feature_code", {}),
            currency=entry.get("currency"),
            feed=entry.get("feed", {}),
        )
