"""Every failure is one plain line with its exit code: the translation of foreign exceptions,
the printing (never Rich markup), usage errors, --verbose, and read-only commands that refuse a
store that does not exist instead of creating it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from features.errors import EXIT_BAD_DATA, EXIT_FAILURE, EXIT_USAGE, ChurnError, FeedError
from pipelines.cli import app
from pipelines.cli_errors import describe
from pipelines.cli_options import fail

MARKUP = "events end at 2026-06-30 [us, tz=UTC]; customer [bold]x[/] [red]"


def test_a_project_error_keeps_its_message_and_exit_code() -> None:
    assert describe(FeedError("late\nfeed")) == ("late feed", 4)


def test_a_number_that_does_not_parse_is_named() -> None:
    with pytest.raises(duckdb.ConversionException) as caught:
        duckdb.sql("select '9,99'::double").fetchall()
    message, code = describe(caught.value)
    assert code == EXIT_BAD_DATA
    assert message.startswith("'9,99' is not a number; write numbers with a decimal point")


def test_corrupt_parquet_names_the_file(tmp_path) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    path.write_bytes(path.read_bytes()[:50])
    for reader in (pq.read_table, lambda p: duckdb.sql(f"select * from '{p}'").fetchall()):
        with pytest.raises(Exception) as caught:
            reader(str(path))
        message, code = describe(caught.value)
        assert code == EXIT_BAD_DATA
        assert message.startswith(f"cannot read Parquet file {path}: ")
        assert "damaged or not Parquet" in message and "\n" not in message


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/out/part-1.parquet"),
         "no space left on device writing /out/part-1.parquet: free space"),
        (OSError("[Errno 28] Error writing bytes to file. Detail: No space left on device"),
         "no space left on device writing the output"),
        (OSError(errno.EROFS, "Read-only file system", "/out/scores"),
         "cannot write /out/scores: read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "/out/scores"),
         "permission denied on /out/scores: read-only for this user"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/nope"),
         "no such file or folder: /nope"),
    ],
)  # fmt: skip
def test_disk_failures_say_what_and_where(error: OSError, words: str) -> None:
    message, code = describe(error)
    assert message.startswith(words) and code == EXIT_FAILURE


def test_a_silent_tracking_server_is_named() -> None:
    error = MlflowException(
        "API request to http://127.0.0.1:9/api/2.0/mlflow/registered-models/alias failed with "
        "exception HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded "
        "(Caused by NewConnectionError(...: [Errno 111] Connection refused'))"
    )
    message, code = describe(error)
    assert message.startswith("tracking server http://127.0.0.1:9 does not answer (connection")
    assert code == EXIT_FAILURE


def test_anything_else_is_its_type_and_first_line() -> None:
    message, code = describe(KeyError("no_such_column"))
    hint = "(run `churn --verbose <command> ...` for the trace)"
    assert message == f"KeyError: 'no_such_column' {hint}"
    assert code == EXIT_FAILURE


def test_the_line_is_printed_verbatim_never_as_markup(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        fail(MARKUP, EXIT_BAD_DATA)
    assert exited.value.code == EXIT_BAD_DATA
    assert capsys.readouterr().err == f"error: {MARKUP}\n"


@pytest.fixture
def failing_config(monkeypatch):
    """Make the config loader raise the exception a test sets, inside a real command."""
    raised: list[BaseException] = []

    def load_config(path=None):
        raise raised[0]

    monkeypatch.setattr("features.config.load_config", load_config)
    return raised


def test_a_command_failure_is_one_line_on_stderr(failing_config, tmp_path) -> None:
    failing_config.append(ChurnError(MARKUP))
    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == EXIT_FAILURE
    assert result.stderr == f"error: {MARKUP}\n"


def test_an_unexpected_exception_is_one_line_and_verbose_shows_the_trace(
    failing_config, tmp_path
) -> None:
    failing_config.append(RuntimeError("boom\nsecond line of detail"))
    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == EXIT_FAILURE
    hint = "(run `churn --verbose <command> ...` for the trace)"
    assert result.stderr == f"error: RuntimeError: boom {hint}\n"
    verbose = CliRunner().invoke(app, ["--verbose", "validate", "--data", str(tmp_path)])
    assert verbose.exit_code == EXIT_FAILURE
    assert "Traceback" in verbose.stderr and "second line of detail" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("error: RuntimeError: boom")


def test_a_wrong_date_format_is_one_usage_line(tmp_path) -> None:
    args = ["score", "--data", str(tmp_path), "--as-of", "2026/07/01", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_USAGE
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--as-of': ")
    assert "'2026/07/01' does not match the format" in line and "%Y-%m-%d" in line
    assert line.endswith(" score --help)")  # "(see churn score --help)"; CliRunner: "root"


def test_an_invalid_model_name_is_one_config_line(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"training": {"model_name": "../models/x"}}))
    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path), "--config", str(config)])
    assert result.exit_code == EXIT_USAGE
    (line,) = result.stderr.splitlines()
    assert "model_name" in line and "'../models/x'" in line


@pytest.mark.parametrize("command", ["score", "evaluate", "report"])
@pytest.mark.parametrize("how", ["var-dir", "sqlite-uri"])
def test_read_only_commands_refuse_a_store_that_does_not_exist(
    command: str, how: str, tmp_path, monkeypatch
) -> None:
    """A mistyped --var-dir or MLFLOW_TRACKING_URI is refused in one line; before, mlflow
    silently created a new empty store there."""
    typo = tmp_path / "typo"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if how == "sqlite-uri":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{typo / 'mlflow.db'}")
    data, out = tmp_path / "data", tmp_path / "out"
    if command == "score":
        args = ["--data", str(data), "--as-of", "2026-07-01", "--out", str(out)]
    elif command == "evaluate":
        args = ["--data", str(data)]
    else:
        args = ["--scores", str(write_scores(out)), "--out", str(tmp_path / "r.html")]
    result = CliRunner().invoke(app, [command, *args, "--var-dir", str(typo)])
    assert result.exit_code == EXIT_FAILURE, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: mlflow store {typo / 'mlflow'}") and "does not exist" in line
    assert not typo.exists()


def write_scores(out: Path) -> Path:
    """A scores day with no manifest, so `churn report` looks for the configured champion."""
    from features.contract import SCORES

    day = out / "scores" / "as_of=2026-07-01"
    day.mkdir(parents=True)
    pq.write_table(SCORES.arrow().empty_table(), day / "part-00000.parquet")
    return out


def test_tracking_requests_are_bounded_by_default_and_can_be_raised(monkeypatch) -> None:
    from pipelines.cli_options import bound_tracking_requests

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    bound_tracking_requests()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
