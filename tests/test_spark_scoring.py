"""Scoring on Spark (`mapInPandas` over `score_and_explain`) gives the local job's exact output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.synth import write_world
from pipelines.score import build_features, run_score
from pipelines.spark_scoring import spark_features
from tests.test_scoring import small_config

pytestmark = pytest.mark.spark

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")


def read_day(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An 800-customer world, a model trained on it, and one scoring per engine."""
    from pipelines.train import run_train

    root = tmp_path_factory.mktemp("spark-scoring")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
        data = root / "world"
        write_world(data, customers=800, seed=5)
        cfg = small_config()
        cfg = cfg.model_copy(
            update={"training": cfg.training.model_copy(update={"model_name": "churn-spark"})}
        )
        trained = run_train(data, cfg, root / "var")
        model = f"models:/{trained.model_name}/{trained.model_version}"
        local = run_score(data, cfg, AS_OF, root / "duckdb", model)
        spark = run_score(
            data, cfg, AS_OF, root / "spark", model, engine="spark", spark_master="local[2]"
        )
        yield {"data": data, "cfg": cfg, "local": local, "spark": spark}


def test_spark_builds_the_same_feature_matrix(world):
    on_duckdb, active = build_features(world["data"], world["cfg"], AS_OF)
    on_spark, spark_active, frame = spark_features(world["data"], world["cfg"], AS_OF, "local[2]")
    assert active == spark_active == len(on_duckdb) > 200
    assert frame.frame.count() == len(on_duckdb)
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-12)


def test_spark_scores_tiers_and_reasons_match_duckdb(world):
    local, spark = read_day(world["local"].folder), read_day(world["spark"].folder)
    assert len(local) == world["local"].manifest["rows"] > 200
    assert local["reason_1"].nunique() > 2 and local["tier"].nunique() > 1
    pd.testing.assert_frame_equal(spark, local, check_exact=False, rtol=1e-12)
    same = ["customer_id", "risk_tier", "value_tier", "tier", "action", "model_version"]
    reasons = ["reason_1", "reason_2", "reason_3"]
    assert spark[same + reasons].equals(local[same + reasons])
    for tier, counts in world["local"].manifest["tiers"].items():
        assert world["spark"].manifest["tiers"][tier] == pytest.approx(counts, rel=1e-12)
    assert world["spark"].manifest["data"]["hash"] == world["local"].manifest["data"]["hash"]
