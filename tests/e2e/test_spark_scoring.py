"""Scoring on Spark (`mapInPandas` over `score_and_explain`) gives the local job's exact output."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.engines import spark_failure, spark_settings
from pipelines.cli import app
from pipelines.score import EngineChoice, build_features, run_score
from pipelines.spark_scoring import spark_features
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day, trained_world

pytestmark = pytest.mark.spark

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An 800-customer world, a model trained on it, and one scoring per engine."""
    root = tmp_path_factory.mktemp("spark-scoring")
    # The scoring tests' quick config, under its own model name.
    cfg = quick_config(
        "churn-spark",
        max_boost_rounds=80,
        early_stopping_rounds=10,
        shap_sample_rows=200,
        chunk_customers=400,
        drift_fail_psi=0.6,
    )
    with trained_world(root, customers=800, seed=5, cfg=cfg) as (data, model):
        local = run_score(data, cfg, AS_OF, root / "duckdb", model)
        spark = run_score(
            data, cfg, AS_OF, root / "spark", model, engine=EngineChoice("spark", "local[2]")
        )
        yield {"data": data, "cfg": cfg, "local": local, "spark": spark}


@pytest.mark.slow
def test_spark_builds_the_same_feature_matrix(world):
    day = build_features(world["data"], world["cfg"], AS_OF)
    on_duckdb, active = day.matrix, day.active
    on_spark, spark_active, frame = spark_features(world["data"], world["cfg"], AS_OF, "local[2]")
    assert active == spark_active == len(on_duckdb) > 200
    assert frame.frame.count() == len(on_duckdb)
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-12)


@pytest.mark.slow
def test_spark_scores_tiers_and_reasons_match_duckdb(world):
    local, spark = read_day(world["local"].folder), read_day(world["spark"].folder)
    assert len(local) == world["local"].manifest.rows > 200
    assert local["reason_1"].nunique() > 2 and local["tier"].nunique() > 1
    pd.testing.assert_frame_equal(spark, local, check_exact=False, rtol=1e-12)
    same = ["customer_id", "tier", "control", "action", "model_version"]
    reasons = ["reason_1", "reason_2", "reason_3"]
    assert spark[same + reasons].equals(local[same + reasons])
    for tier, counts in world["local"].manifest.tiers.items():
        assert world["spark"].manifest.tiers[tier] == pytest.approx(counts, rel=1e-12)
    assert world["spark"].manifest.data_hash == world["local"].manifest.data_hash


def test_spark_settings_keep_utc_and_let_the_user_tune_the_rest():
    local = spark_settings(
        "local[2]", {"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "3"}
    )
    assert local["spark.driver.memory"] == "8g" and local["spark.sql.shuffle.partitions"] == "3"
    assert spark_settings("local[*]", None)["spark.driver.memory"] == "4g"
    # On a cluster the local sizing defaults would be wrong: the cluster's own settings stay.
    cluster = spark_settings("yarn", None)
    assert "spark.driver.memory" not in cluster and "spark.sql.shuffle.partitions" not in cluster
    # The session zone is part of the features' meaning, not a tuning knob.
    moved = spark_settings("yarn", {"spark.sql.session.timeZone": "Europe/Paris"})
    assert moved["spark.sql.session.timeZone"] == "UTC"


def test_cli_refuses_a_malformed_spark_setting_before_writing(tmp_path):
    out = tmp_path / "matrix.parquet"
    args = ["features", "--data", str(tmp_path), "--out", str(out), "--engine", "spark"]
    result = CliRunner().invoke(app, [*args, "--spark-conf", "driver.memory=8g"])
    assert result.exit_code == 2
    assert "--spark-conf" in result.output and "spark.driver.memory=8g" in result.output
    assert not out.exists()


class FakeJavaError(Exception):
    """Stands for py4j's Py4JJavaError, whose text is a Java stack trace."""

    __module__ = "py4j.protocol"


def test_spark_errors_become_one_line_with_the_fix():
    heap = FakeJavaError(
        "An error occurred while calling o70.getResult.\n: java.lang.OutOfMemoryError"
    )
    assert "--spark-conf spark.driver.memory=" in spark_failure(heap)
    other = FakeJavaError("\n  [PATH_NOT_FOUND] Path does not exist: /x.\n\tat org.apache.Foo")
    assert spark_failure(other) == "Spark failed: [PATH_NOT_FOUND] Path does not exist: /x."
    assert spark_failure(ValueError("not from Spark")) is None
