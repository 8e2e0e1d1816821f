"""The engines a dataset can run on: DuckDB embedded (default) or a Spark session.

The feature definitions are Ibis expressions, so both engines run the same code; only the
connection differs. Spark is optional (`pip install -e '.[spark]'`, Java 17).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import Literal

import duckdb
import ibis

from features.errors import ChurnError

log = logging.getLogger(__name__)

Engine = Literal["duckdb", "spark"]


class EngineError(ChurnError):
    """The requested engine cannot start here."""


def spark_session(master: str = "local[*]"):
    """A Spark session in UTC (features compare UTC timestamps), with a quiet UI-less setup."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "--engine spark needs pyspark: pip install -e '.[spark]' (and Java 17)"
        ) from None
    if shutil.which("java") is None:
        raise EngineError(
            "--engine spark needs Java 17 on PATH (e.g. apt-get install openjdk-17-jre)"
        )
    if master.startswith("local"):
        # Local Python workers (mapInPandas) must run this interpreter, not whatever `python3`
        # is on PATH (pyspark reads only the variable); on a cluster the cluster decides.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("churn")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        # Small local jobs: the default 200 shuffle partitions only add scheduling overhead.
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )


def duckdb_connection(database: str = ":memory:", read_only: bool = False) -> ibis.BaseBackend:
    """An embedded DuckDB connection; its terminal progress bar would garble our logs."""
    con = ibis.duckdb.connect(database, read_only=read_only)
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        # Inside a Jupyter kernel DuckDB refuses the setting unless ipywidgets is installed.
        log.debug("DuckDB progress bar setting left as is (Jupyter without ipywidgets)")
    return con


def connect(engine: Engine = "duckdb", spark_master: str = "local[*]") -> ibis.BaseBackend:
    """An Ibis connection for the engine."""
    if engine == "spark":
        return ibis.pyspark.connect(spark_session(spark_master))
    return duckdb_connection()
