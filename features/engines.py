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


def spark_settings(master: str, conf: dict[str, str] | None) -> dict[str, str]:
    """Our defaults, then the user's `--spark-conf`, then the UTC session zone, which is fixed."""
    settings = {
        "spark.ui.enabled": "false",
        # Stage progress bars on a terminal; in a scheduler's log file they are noise.
        "spark.ui.showConsoleProgress": str(sys.stderr.isatty()).lower(),
    }
    if master.startswith("local"):
        # One JVM is driver and executors at once: Spark's 1 GB default heap runs out collecting
        # the day's matrix of 1M customers. Small local jobs: the default 200 shuffle
        # partitions only add scheduling overhead.
        settings |= {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"}
    # Features compare UTC timestamps; another session zone would shift every cutoff.
    return settings | (conf or {}) | {"spark.sql.session.timeZone": "UTC"}


def spark_session(master: str = "local[*]", conf: dict[str, str] | None = None):
    """A Spark session for `master` with `spark_settings` (`conf` from `--spark-conf`).

    On a cluster, settings fixed when the JVM starts (driver memory) belong on the
    `spark-submit` line: a session that already exists is reused, with only runtime settings set.
    """
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
    builder = SparkSession.builder.master(master).appName("churn")
    for key, value in spark_settings(master, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # Spark's WARN level prints stack traces for harmless events (e.g. reading a glob of
    # Parquet parts); errors still reach the log.
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_failure(exc: BaseException) -> str | None:
    """One readable line for an error raised inside Spark's JVM, or None for any other error."""
    if not type(exc).__module__.startswith(("py4j", "pyspark")):
        return None
    text = str(exc)
    if "OutOfMemoryError" in text:
        return (
            "Spark ran out of memory (java.lang.OutOfMemoryError); give the driver more: "
            "--spark-conf spark.driver.memory=8g locally, spark-submit --driver-memory on a cluster"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return f"Spark failed: {first[:300]}"


def duckdb_connection(database: str = ":memory:", read_only: bool = False) -> ibis.BaseBackend:
    """An embedded DuckDB connection; its terminal progress bar would garble our logs."""
    con = ibis.duckdb.connect(database, read_only=read_only)
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        # Inside a Jupyter kernel DuckDB refuses the setting unless ipywidgets is installed.
        log.debug("DuckDB progress bar setting left as is (Jupyter without ipywidgets)")
    return con


def connect(
    engine: Engine = "duckdb",
    spark_master: str = "local[*]",
    spark_conf: dict[str, str] | None = None,
) -> ibis.BaseBackend:
    """An Ibis connection for the engine."""
    if engine == "spark":
        return ibis.pyspark.connect(spark_session(spark_master, spark_conf))
    return duckdb_connection()
