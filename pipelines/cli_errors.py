"""Any exception as one plain line and an exit code (`features.errors`), with the fix where known.

The project's own errors already say what to do; the rest (damaged files, a full or read-only
disk, a number that does not parse, a tracking server that does not answer) are recognised here
by kind, never by where they came from, so a new code path gets the same line.
"""

from __future__ import annotations

import errno
import re

from features.errors import EXIT_BAD_DATA, EXIT_FAILURE, ChurnError

VERBOSE_HINT = "run `churn --verbose <command> ...` for the trace"


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line to print for `exc` and the exit code to leave with."""
    if isinstance(exc, ChurnError):
        return flat(str(exc)), exc.exit_code
    from features.engines import spark_failure

    message = spark_failure(exc) if isinstance(exc, Exception) else None
    if message is not None:
        return flat(message), EXIT_FAILURE
    for recognise in (disk_failure, parquet_failure, number_failure, tracking_failure):
        found = recognise(exc)
        if found is not None:
            return found
    return f"{type(exc).__name__}: {first_line(exc)} ({VERBOSE_HINT})", EXIT_FAILURE


def disk_failure(exc: BaseException) -> tuple[str, int] | None:
    """A full disk, a read-only file system or a folder the job may not write."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    target = getattr(exc, "filename", None)
    where = f" {target}" if target else ""
    if code == errno.ENOSPC or "no space left on device" in text.lower():
        return (
            f"no space left on device writing{where or ' the output'}: free space or write "
            "elsewhere (--out, --var-dir; DuckDB spills to TMPDIR)",
            EXIT_FAILURE,
        )
    if code == errno.EROFS or "read-only file system" in text.lower():
        return (
            f"cannot write{where}: read-only file system; choose a writable --out or --var-dir",
            EXIT_FAILURE,
        )
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied on{where}: read-only for this user (or another user's file); "
            "fix its permissions or choose another --out",
            EXIT_FAILURE,
        )
    if code == errno.ENOENT and target:
        return f"no such file or folder: {target}; check the path", EXIT_FAILURE
    return None


def parquet_failure(exc: BaseException) -> tuple[str, int] | None:
    """A damaged or truncated Parquet file (DuckDB or Arrow reading it), named."""
    kind = type(exc).__module__ or ""
    if not (kind.startswith(("duckdb", "_duckdb", "pyarrow")) or isinstance(exc, OSError)):
        return None
    text = str(exc)
    named = re.search(r"""['"]([^'"]+\.parquet)['"]""", text)
    damaged = ("magic bytes", "corrupt", "invalid", "truncated", "footer", "thrift")
    if named is None or not any(word in text.lower() for word in damaged):
        return None
    return (
        f"cannot read Parquet file {named.group(1)}: {first_line(exc)}; the file is damaged "
        "or not Parquet: restore or re-export it",
        EXIT_BAD_DATA,
    )


def number_failure(exc: BaseException) -> tuple[str, int] | None:
    """DuckDB's ConversionException: a text value that does not parse as the type asked for."""
    if type(exc).__name__ != "ConversionException":
        return None
    text = str(exc)
    value = re.search(r"""string ['"](.*?)['"] to ['"]?(\w+)""", text)
    column = re.search(r"""column ['"]?([\w.]+)['"]?""", text)
    if value is None:
        return f"a value does not convert: {first_line(exc)}", EXIT_BAD_DATA
    name = f"column {column.group(1)}: " if column else ""
    kind = value.group(2).upper()
    wanted = "a number" if kind in {"DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER"} else kind
    return (
        f"{name}{value.group(1)!r} is not {wanted}; write numbers with a decimal point and no "
        "thousands separator (9.99), or fix the file's export settings",
        EXIT_BAD_DATA,
    )


def tracking_failure(exc: BaseException) -> tuple[str, int] | None:
    """An mlflow request that never reached the server, or the server's own error."""
    if type(exc).__name__ != "MlflowException" and not type(exc).__module__.startswith("mlflow"):
        return None
    from models.registry import unreachable

    text = str(exc)
    reason = unreachable(text)
    server = re.search(r"(https?://[^/\s]+)", text)
    if reason is not None and server is not None:
        return (
            f"tracking server {server.group(1)} does not answer ({reason}); start it or fix "
            "MLFLOW_TRACKING_URI",
            EXIT_FAILURE,
        )
    return f"mlflow: {first_line(exc)}", EXIT_FAILURE


def first_line(exc: BaseException) -> str:
    """The first non-empty line of the message (DuckDB and mlflow append context below it)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def flat(message: str) -> str:
    """A message on one line: its own line breaks become spaces."""
    return " ".join(message.split())
