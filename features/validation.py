"""Validate a dataset against the data contract and hand back a cleaned, still lazy, dataset.

Two layers, chosen for scale:
- structure (required columns and their types) is checked with pandera's Ibis schemas at
  `SCHEMA_ONLY` depth, which reads table metadata only;
- row-level rules (null keys, duplicates, unknown customers, future timestamps, opens without a
  send or above the sends, negative payments, numbers that do not parse, ...) are a handful of
  aggregate queries that DuckDB runs over the whole table, returning
  a count and one example each. pandera's Ibis data checks were not used for these: on a failing
  check they materialise every failing row in pandas (5.3M failing rows of a 50M-event table took
  58 s and 5.3 GB), where an aggregate needs one row.

All failures are collected and raised together as one `DataContractError`. Validation only reads:
it writes no file and no table.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import pandas as pd
import pandera.ibis as pa
from ibis import _
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrors
from rich.table import Table

from features import contract
from features.config import Config
from features.dataset import Dataset
from features.errors import DataContractError
from features.families.value import PLAN_PRICE_COLUMN

log = logging.getLogger(__name__)

ARROW_UTC = str(contract.UTC_TIMESTAMP)

# table -> column -> (dtype, required), the contract's Arrow types seen through Ibis
CONTRACT: dict[str, dict[str, tuple[ibis.DataType, bool]]] = {
    table.name: {
        column.name: (ibis.dtype(column.type), column.required) for column in table.columns
    }
    for table in contract.INPUT_TABLES
}

_FIX_TYPE = {
    "string": "store {column} as text (string)",
    "float64": "store {column} as float64",
    "boolean": "store {column} as a boolean (true/false)",
}
# Email opens are compared with the sends of the same 30-day window and of the window before.
OPEN_WINDOW_DAYS = 30
_FIX_NUMBER = (
    "write numbers with a '.' decimal point and no thousands separator (e.g. 1234.5), or leave "
    "the field empty"
)


@dataclass(frozen=True)
class ValidationReport:
    """What validation found, and the cleaned dataset later steps read."""

    customers: int
    events: int
    events_by_type: dict[str, int]
    first_event: pd.Timestamp | None
    last_event: pd.Timestamp | None
    unknown_customer_events: int
    unknown_customer_share: float
    duplicate_events_dropped: int
    unknown_customer_events_dropped: int
    events_before_signup: int
    labels: int | None
    dataset: Dataset
    warnings: tuple[str, ...] = field(default=())
    # Columns stored as text (CSV) that validation parsed as numbers: table -> columns.
    parsed_numbers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Rows the features will leave out, by reason (counted here so nothing is lost quietly).
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def events_kept(self) -> int:
        """Events left after dropping exact duplicates and events of unknown customers."""
        return self.events - self.duplicate_events_dropped - self.unknown_customer_events_dropped

    def quality(self) -> dict:
        """What cleaning dropped or let through, for a job's manifest (counts, no ids)."""
        return {
            "events": self.events,
            "events_kept": self.events_kept,
            "duplicate_events_dropped": self.duplicate_events_dropped,
            "unknown_customer_events_dropped": self.unknown_customer_events_dropped,
            "unknown_customer_share": round(self.unknown_customer_share, 6),
            "events_before_signup": self.events_before_signup,
        }

    def summary_table(self) -> Table:
        """A short rich table: counts, event types, date range and what was dropped."""
        table = Table(title=f"Dataset {self.dataset.source}", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_row("customers", f"{self.customers:,}")
        table.add_row("events", f"{self.events:,}")
        for name, count in sorted(self.events_by_type.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(f"  {name}", f"{count:,}")
        if self.first_event is not None and self.last_event is not None:
            span = f"{self.first_event:%Y-%m-%d} to {self.last_event:%Y-%m-%d}"
            table.add_row("date range", span)
        table.add_row("unknown-customer share", f"{self.unknown_customer_share:.2%}")
        table.add_row("duplicates dropped", f"{self.duplicate_events_dropped:,}")
        table.add_row(
            "unknown-customer events dropped", f"{self.unknown_customer_events_dropped:,}"
        )
        table.add_row("events before signup (kept)", f"{self.events_before_signup:,}")
        if self.labels is not None:
            table.add_row("labels", f"{self.labels:,}")
        for reason, count in self.excluded.items():
            table.add_row(f"excluded: {reason}", f"{count:,}")
        for warning in self.warnings:
            table.add_row("[yellow]warning[/]", warning)
        return table


def validate_dataset(
    dataset: Dataset, cfg: Config, now: pd.Timestamp | None = None
) -> ValidationReport:
    """Check every contract rule, raise one `DataContractError` listing all failures, or report."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware timestamp")
    problems: list[str] = []
    warnings: list[str] = []
    tables = {"customers": dataset.customers, "events": dataset.events, "labels": dataset.labels}
    counts = {name: int(t.count().execute()) for name, t in tables.items() if t is not None}
    usable = {
        name: _check_structure(name, t, counts[name], problems, _csv_text(name, dataset))
        for name, t in tables.items()
        if t is not None
    }
    parsed = _check_numbers(dataset, usable, counts, cfg, problems)

    customers_ok = {"customer_id"} <= usable["customers"]
    if counts["customers"] == 0:
        problems.append(
            "customers: the table is empty (0 rows); export at least one customer with "
            "customer_id and signup_at"
        )
    elif customers_ok:
        _check_customers(dataset.customers, usable["customers"], now, problems)
    problems.extend(absent_consent_columns(cfg, dataset.customers.columns))
    known = _known_customers(dataset.customers, usable["customers"])

    events = _check_events(dataset.events, usable["events"], counts["events"], known, cfg, now)
    problems.extend(events.problems)
    warnings.extend(events.warnings)
    if events.by_type:
        dead, absent = absent_event_names(cfg, events.by_type)
        strict = cfg.validation.absent_event_names == "error"
        (problems if strict else warnings).extend(dead)
        warnings.extend(absent)

    labels = dataset.labels
    if cfg.churn.source == "labels" and labels is None:
        problems.append(
            "labels: churn.source is 'labels' but the dataset has no labels table; add "
            "labels.parquet (customer_id, as_of, churned) or set churn.source to events/inactivity"
        )
    if labels is not None:
        label_result = _check_labels(labels, usable["labels"], counts["labels"], known, cfg)
        problems.extend(label_result.problems)
        warnings.extend(label_result.warnings)
        labels = label_result.cleaned

    if problems:
        raise DataContractError(problems)
    excluded = _excluded_labels(dataset.customers, labels, usable)
    warnings.extend(
        f"labels: {count:,} row(s) excluded: {reason}" for reason, count in excluded.items()
    )
    for warning in warnings:
        log.warning(warning)

    cleaned = Dataset(
        con=dataset.con,
        customers=parse_numbers(dataset.customers, parsed.get("customers", ())),
        events=parse_numbers(events.cleaned, parsed.get("events", ())),
        labels=labels,
        source=dataset.source,
    )
    return ValidationReport(
        customers=counts["customers"],
        events=counts["events"],
        events_by_type=events.by_type,
        first_event=events.first,
        last_event=events.last,
        unknown_customer_events=events.unknown,
        unknown_customer_share=events.unknown_share,
        duplicate_events_dropped=events.duplicates,
        unknown_customer_events_dropped=events.unknown,
        events_before_signup=events.before_signup,
        labels=counts.get("labels"),
        dataset=cleaned,
        warnings=tuple(warnings),
        parsed_numbers=parsed,
        excluded=excluded,
    )


class _Raw(str):
    """An example already phrased in words, shown without quotes."""


def _problem(table: str, column: str, count: int, total: int, what: str, example, fix: str) -> str:
    """One problem line: table.column, how many rows, what is wrong, one example, the fix."""
    shown = "" if example is None else f" (example: {_show(example)})"
    return f"{table}.{column}: {count:,} of {total:,} rows {what}{shown}; {fix}"


def _show(value) -> str:
    """Render an example value; timestamps in ISO form, ids quoted, phrases as they are."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a contract table: column presence and types only."""
    columns = {
        name: pa.Column(dtype, required=required, nullable=True)
        for name, (dtype, required) in CONTRACT[table].items()
    }
    return pa.DataFrameSchema(columns, name=table, strict=False)


def _check_structure(
    name: str, table: ibis.Table, rows: int, problems: list[str], text_ok: set[str]
) -> set[str]:
    """Check presence and types with pandera; return the contract columns fit for row checks
    (a column in `text_ok` may be text: its numbers are parsed later)."""
    contract = CONTRACT[name]
    usable = {column for column in contract if column in table.columns}
    with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
        try:
            _schema(name).validate(table, lazy=True)
            return usable
        except SchemaErrors as exc:
            failures = exc.failure_cases.to_dict("records")
    missing = [str(f["failure_case"]) for f in failures if f["check"] == "column_in_dataframe"]
    if missing:
        mapping = ", ".join(f"{column}: <your column>" for column in missing)
        typed = ", ".join(f"{column} ({_describe(contract[column][0])})" for column in missing)
        # One line per table, however many are missing: an export with other names lacks all.
        what = (
            f"{name}.{missing[0]}: required column missing"
            if len(missing) == 1
            else f"{name}: required columns {', '.join(missing)} missing"
        )
        problems.append(
            f"{what}, so all {rows:,} rows fail (columns present: {', '.join(table.columns)}); "
            f"add {typed}, or map your export's names in the config: "
            f"data.{name}.columns: {{{mapping}}}"
        )
    for failure in failures:
        if failure["check"] == "column_in_dataframe":
            continue
        column = str(failure["column"])
        if column in text_ok and table[column].type().is_string():
            continue
        usable.discard(column)
        problems.append(_type_problem(name, table, column, rows, contract[column][0]))
    return usable


def _csv_text(name: str, dataset: Dataset) -> set[str]:
    """Contract number columns a CSV holds as text: parsed and checked by `_check_numbers`
    instead of being a type error (a CSV has no types)."""
    return {"value"} if name == "events" and name in dataset.csv_tables else set()


def _describe(dtype: ibis.DataType) -> str:
    """The contract type in the words of someone writing Parquet."""
    return ARROW_UTC if dtype.is_timestamp() else str(dtype)


def _type_problem(
    name: str, table: ibis.Table, column: str, rows: int, expected: ibis.DataType
) -> str:
    """A mistyped column: what it is stored as, one value, and the conversion to make."""
    actual = table[column].type()
    example = table[column].min().execute() if rows and not actual.is_unknown() else None
    if expected.is_timestamp() and actual.is_timestamp() and actual.timezone is None:
        what = "hold timestamps without a time zone"
        fix = (
            f"convert {column} to UTC and store it as {ARROW_UTC}, or name the zone they are "
            "in with data.timezone (e.g. Europe/Berlin)"
        )
    elif expected.is_timestamp():
        what = f"are stored as {actual} instead of a timestamp"
        fix = f"parse {column} and store it as UTC ({ARROW_UTC})"
    else:
        what = f"are stored as {actual} instead of {expected}"
        fix = _FIX_TYPE.get(str(expected), "store {column} as " + str(expected)).format(
            column=column
        )
    return _problem(name, column, rows, rows, what, example, fix)


def _excluded_labels(
    customers: ibis.Table, labels: ibis.Table | None, usable: dict[str, set[str]]
) -> dict[str, int]:
    """Label rows no snapshot can use, by reason: the customer had not signed up before the
    label's as_of (tenure 0 or later), so they are not in the population that day."""
    if labels is None or not {"customer_id", "as_of"} <= usable.get("labels", set()):
        return {}
    if not {"customer_id", "signup_at"} <= usable["customers"]:
        return {}
    joined = labels.inner_join(customers.select("customer_id", "signup_at"), "customer_id")
    early = int(joined.filter(joined.signup_at >= joined.as_of).count().execute())
    reason = "customer not yet signed up before the label's as_of (tenure 0)"
    return {reason: early} if early else {}


def absent_consent_columns(cfg: Config, columns: Sequence[str]) -> list[str]:
    """A consent channel mapped to a column the customers table lacks: caught before training,
    not on the first night (permission to contact is not a detail to find out late)."""
    return [
        f"decisions.consent.{channel}: column {column!r} is not in the customers table "
        f"(columns: {', '.join(columns)}); name the column holding that channel's consent, or "
        "remove the channel"
        for channel, column in cfg.decisions.consent.items()
        if column not in columns
    ]


def configured_event_names(cfg: Config) -> dict[str, list[str]]:
    """Every event name the config relies on, by the setting that names it."""
    named = {f"signals.{family}": names for family, names in cfg.signals.model_dump().items()}
    if cfg.churn.source == "events":
        named["churn.events"] = list(cfg.churn.events)
    return {setting: names for setting, names in named.items() if names}


def absent_event_names(cfg: Config, counts: dict[str, int]) -> tuple[list[str], list[str]]:
    """Configured event names that never occur, with the closest names that do: an error when
    none of a setting's names occurs (its signal, or churn itself, would silently be zero: a
    typo until shown otherwise), a warning when its other names do."""
    present = sorted(counts)
    folded = {name.casefold(): name for name in present}
    problems, warnings = [], []
    for setting, names in configured_event_names(cfg).items():
        missing = [n for n in names if n not in counts]
        for name in missing:
            near = ([folded[name.casefold()]] if name.casefold() in folded else []) or (
                difflib.get_close_matches(name, present, n=3, cutoff=0.6)
            )
            hint = f"closest that occur: {near}" if near else f"names that occur: {present[:8]}"
            line = (
                f"{setting}: event {name!r} never occurs in the events table ({hint}); fix the "
                f"name, or remove it from {setting}"
            )
            (problems if len(missing) == len(names) else warnings).append(line)
    return problems, warnings


def numeric_customer_columns(cfg: Config) -> list[str]:
    """Customer columns the features read as numbers: numeric profile columns, plan_price."""
    categorical = set(cfg.features.categorical_columns)
    columns = [c for c in cfg.features.profile_columns if c not in categorical]
    if "plan_price" in cfg.features.builders and PLAN_PRICE_COLUMN not in columns:
        columns.append(PLAN_PRICE_COLUMN)
    return columns


def as_number(text: ibis.Value) -> ibis.Value:
    """A text column as float64: blank text is missing, text that does not parse is null."""
    return text.strip().nullif("").try_cast("float64")


def parse_numbers(table: ibis.Table, columns: tuple[str, ...]) -> ibis.Table:
    """`table` with the named text columns as float64 (see `as_number`)."""
    if not columns:
        return table
    return table.mutate(**{c: as_number(table[c]) for c in columns})


def _check_numbers(
    dataset: Dataset,
    usable: dict[str, set[str]],
    counts: dict[str, int],
    cfg: Config,
    problems: list[str],
) -> dict[str, tuple[str, ...]]:
    """Numbers stored as text (a CSV's `value`, numeric profile columns): count and name the
    values that do not parse; return the text columns to parse, per table."""
    wanted = {
        "events": ["value"] if "value" in usable["events"] else [],
        "customers": [c for c in numeric_customer_columns(cfg) if c in dataset.customers.columns],
    }
    parsed: dict[str, tuple[str, ...]] = {}
    for name, columns in wanted.items():
        table = getattr(dataset, name)
        text = tuple(c for c in columns if table[c].type().is_string())
        if not text or not counts[name]:
            continue
        parsed[name] = text
        aggregates = {}
        for column in text:
            raw = table[column].strip().nullif("")
            bad = raw.notnull() & as_number(raw).isnull()
            aggregates |= {f"n_{column}": bad.sum(), f"example_{column}": raw.min(where=bad)}
        stats = table.aggregate(**aggregates).execute().iloc[0]
        for column in text:
            count = int(stats[f"n_{column}"] or 0)
            if not count:
                continue
            fix = _FIX_NUMBER
            if name == "customers":
                fix += f", or list {column} in features.categorical_columns if it is a category"
            what = "are not numbers"
            problems.append(
                _problem(name, column, count, counts[name], what, stats[f"example_{column}"], fix)
            )
    return parsed


def _check_customers(
    customers: ibis.Table, usable: set[str], now: pd.Timestamp, problems: list[str]
) -> None:
    """Null and duplicate customer ids, missing or future signup times."""
    c = customers
    aggregates = {
        "rows": c.count(),
        "null_id": c.customer_id.isnull().sum(),
        "ids": c.customer_id.nunique(),
        "example_null": c.signup_at.min(where=c.customer_id.isnull())
        if "signup_at" in usable
        else ibis.null(),
    }
    if "signup_at" in usable:
        aggregates |= {
            "null_signup": c.signup_at.isnull().sum(),
            "example_null_signup": c.customer_id.min(where=c.signup_at.isnull()),
            "future_signup": (c.signup_at > now).sum(),
            "example_future_signup": c.signup_at.max(),
        }
    stats = c.aggregate(**aggregates).execute().iloc[0]
    rows = int(stats["rows"])
    if stats["null_id"]:
        value = stats["example_null"]
        example = None if pd.isna(value) else _Raw(f"a row with signup_at {_show(value)}")
        problems.append(
            _problem(
                "customers",
                "customer_id",
                int(stats["null_id"]),
                rows,
                "have no customer_id",
                example,
                "give every customer an id or remove those rows",
            )
        )
    duplicated_rows = rows - int(stats["null_id"]) - int(stats["ids"])
    if duplicated_rows:
        dup = (
            c.filter(c.customer_id.notnull())
            .group_by("customer_id")
            .agg(n=ibis._.count())
            .filter(ibis._.n > 1)
            .customer_id.min()
            .execute()
        )
        problems.append(
            _problem(
                "customers",
                "customer_id",
                duplicated_rows,
                rows,
                "repeat an id already used by another row",
                dup,
                "keep one row per customer (deduplicate the CRM export)",
            )
        )
    if "signup_at" not in usable:
        return
    if stats["null_signup"]:
        problems.append(
            _problem(
                "customers",
                "signup_at",
                int(stats["null_signup"]),
                rows,
                "have no signup_at",
                _Raw(f"customer_id {stats['example_null_signup']!r}"),
                "fill signup_at (first contract or first activity date) for every customer",
            )
        )
    if stats["future_signup"]:
        problems.append(
            _problem(
                "customers",
                "signup_at",
                int(stats["future_signup"]),
                rows,
                f"are in the future of {now.isoformat()}",
                stats["example_future_signup"],
                "fix the clock or time zone of the export (timestamps must be UTC)",
            )
        )


def _known_customers(customers: ibis.Table, usable: set[str]) -> ibis.Table | None:
    """One row per known customer id with its earliest signup, or None if ids are unusable."""
    if "customer_id" not in usable:
        return None
    c = customers.filter(customers.customer_id.notnull())
    if "signup_at" in usable:
        return c.group_by("customer_id").agg(_signup_at=c.signup_at.min())
    return c.select("customer_id").distinct()


@dataclass
class _EventResult:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    duplicates: int = 0
    unknown: int = 0
    unknown_share: float = 0.0
    before_signup: int = 0
    cleaned: ibis.Table | None = None


def _check_events(
    events: ibis.Table,
    usable: set[str],
    rows: int,
    known: ibis.Table | None,
    cfg: Config,
    now: pd.Timestamp,
) -> _EventResult:
    """Row rules over the events table, each one aggregate query that DuckDB runs in place."""
    result = _EventResult(cleaned=events)
    if rows == 0:
        if cfg.churn.source != "labels":
            result.problems.append(
                f"events: the table is empty (0 rows) but churn.source is '{cfg.churn.source}', "
                "which derives churn from events; export the event log, or use given labels "
                "(churn.source: labels with a labels table)"
            )
        return result
    e = events
    if "event" in usable:
        by_type = e.group_by("event").agg(n=e.count()).execute()
        result.by_type = {
            ("(null)" if pd.isna(k) else str(k)): int(n)
            for k, n in zip(by_type["event"], by_type["n"], strict=True)
        }
    _check_event_keys(e, usable, rows, now, result)
    _check_duplicates(e, result)
    if known is not None and "customer_id" in usable:
        _check_unknown_customers(e, usable, rows, known, cfg, result)
    # The value rules judge the events kept: exact duplicates and unknown customers' dropped.
    kept = result.cleaned
    if {"customer_id", "event", "value"} <= usable:
        value = kept.value
        if value.type().is_string():
            value = as_number(value)
        _check_amounts(kept, value, rows, cfg, result)
    if {"customer_id", "ts", "event"} <= usable:
        _check_email_opens(e, rows, cfg, result)
        _check_opens_per_send(kept, cfg, result)
    return result


def _check_event_keys(
    e: ibis.Table, usable: set[str], rows: int, now: pd.Timestamp, result: _EventResult
) -> None:
    """Null keys and future timestamps, with the event date range, in one pass."""
    keys = [column for column in ("customer_id", "ts", "event") if column in usable]
    aggregates = {}
    for column in keys:
        aggregates[f"null_{column}"] = e[column].isnull().sum()
        other = _other_key(column, usable)
        # The example identifies the row by another key (never by a profile attribute).
        if other is not None:
            aggregates[f"example_{column}"] = e[other].min(where=e[column].isnull())
    if "ts" in usable:
        aggregates |= {"first": e.ts.min(), "last": e.ts.max(), "future": (e.ts > now).sum()}
    if not aggregates:
        return
    stats = e.aggregate(**aggregates).execute().iloc[0]
    for column in keys:
        count = int(stats[f"null_{column}"])
        if not count:
            continue
        other = _other_key(column, usable)
        value = stats.get(f"example_{column}")
        example = (
            None if other is None or pd.isna(value) else _Raw(f"a row with {other} {_show(value)}")
        )
        result.problems.append(
            _problem(
                "events",
                column,
                count,
                rows,
                f"have a null {column}",
                example,
                f"fill {column} or drop those rows in the export",
            )
        )
    if "ts" not in usable:
        return
    result.first = None if pd.isna(stats["first"]) else pd.Timestamp(stats["first"])
    result.last = None if pd.isna(stats["last"]) else pd.Timestamp(stats["last"])
    if stats["future"]:
        result.problems.append(
            _problem(
                "events",
                "ts",
                int(stats["future"]),
                rows,
                f"are in the future of {now.isoformat()}",
                result.last,
                "fix the clock or time zone of the source (timestamps must be UTC) or "
                "drop those rows",
            )
        )


def _other_key(column: str, usable: set[str]) -> str | None:
    """Another key column of the events table that can identify a row."""
    return next((k for k in ("customer_id", "event", "ts") if k in usable and k != column), None)


def _check_duplicates(e: ibis.Table, result: _EventResult) -> None:
    """Exact duplicate events (every column equal) are dropped and counted, not an error."""
    # Rows that hash alike are the only candidates (validation runs on DuckDB, whose hash has
    # 64 bits): grouping 92M events by that hash took 21 s against 30 s by every column (1M
    # world, DuckDB capped at 2GB), and the exact grouping by every column then runs on the
    # candidates alone (a collision is not a copy).
    hashed = e.mutate(_row_hash=ibis.struct({c: e[c] for c in e.columns}).hash())
    hashes = hashed.group_by("_row_hash").agg(_rows=hashed.count())
    shared = hashes.filter(hashes._rows > 1).select("_row_hash")
    candidates = hashed.semi_join(shared, "_row_hash").drop("_row_hash")
    groups = candidates.group_by(list(e.columns)).agg(_copies=candidates.count())
    repeated = groups.filter(groups._copies > 1)
    example = repeated.customer_id.min() if "customer_id" in e.columns else ibis.null()
    stats = repeated.aggregate(extra=(repeated._copies - 1).sum(), example=example).execute()
    extra = stats["extra"].iloc[0]
    result.duplicates = 0 if pd.isna(extra) else int(extra)
    if result.duplicates:
        result.cleaned = result.cleaned.distinct()
        log.info(
            "events: dropping %d exact duplicate rows (example customer_id %r)",
            result.duplicates,
            stats["example"].iloc[0],
        )


def _check_unknown_customers(
    e: ibis.Table,
    usable: set[str],
    rows: int,
    known: ibis.Table,
    cfg: Config,
    result: _EventResult,
) -> None:
    """Events of customers missing from the customers table, and events before signup."""
    joined = e.left_join(known.mutate(_known=ibis.literal(True)), "customer_id")
    aggregates = {
        "unknown": (joined._known.isnull() & joined.customer_id.notnull()).sum(),
        "example": joined.customer_id.min(where=joined._known.isnull()),
    }
    check_signup = "ts" in usable and "_signup_at" in known.columns
    if check_signup:
        aggregates["before"] = (joined.ts < joined._signup_at).sum()
    stats = joined.aggregate(**aggregates).execute().iloc[0]
    unknown = int(stats["unknown"])
    share = unknown / rows
    limit = cfg.validation.max_unknown_customer_share
    result.unknown_share = share
    if unknown and share > limit:
        result.problems.append(
            _problem(
                "events",
                "customer_id",
                unknown,
                rows,
                f"belong to customers missing from the customers table ({share:.2%} > "
                f"validation.max_unknown_customer_share {limit:.2%})",
                stats["example"],
                "export the missing customers, or raise validation.max_unknown_customer_share "
                "to drop their events",
            )
        )
    elif unknown:
        result.unknown = unknown
        result.cleaned = result.cleaned.semi_join(known.select("customer_id"), "customer_id")
        result.warnings.append(
            f"events.customer_id: dropped {unknown:,} of {rows:,} events ({share:.2%}) of "
            f"customers missing from the customers table (example: {stats['example']!r})"
        )
    if check_signup and stats["before"]:
        # A warning, not an error: CRM signup dates often record when a contract started, while
        # trial or pre-registration activity (merged on login) legitimately comes before it, and
        # importers that derive signup from a first purchase can differ by clock skew. Features
        # only read events before each cutoff, so these rows cannot leak the future.
        result.before_signup = int(stats["before"])
        result.warnings.append(
            f"events.ts: {result.before_signup:,} of {rows:,} events happen before their "
            "customer's signup_at; kept (trial or pre-registration activity)"
        )


def _check_email_opens(e: ibis.Table, rows: int, cfg: Config, result: _EventResult) -> None:
    """Every email open needs an email sent to the same customer at or before it."""
    opened, sent = cfg.signals.email_open, cfg.signals.email_sent
    if not opened:
        return
    opens = e.filter(e.event.isin(opened))
    if sent:
        sends = e.filter(e.event.isin(sent))
        first_sent = sends.group_by("customer_id").agg(_first_sent=sends.ts.min())
        joined = opens.left_join(first_sent, "customer_id")
        orphan = joined._first_sent.isnull() | (joined.ts < joined._first_sent)
    else:
        joined = opens
        orphan = ibis.literal(True)
    stats = (
        joined.aggregate(n=orphan.sum(), example=joined.customer_id.min(where=orphan))
        .execute()
        .iloc[0]
    )
    count = 0 if pd.isna(stats["n"]) else int(stats["n"])
    if count:
        names = ", ".join(opened)
        fix = (
            "export the email-service sends too, or map their event name in signals.email_sent"
            if sent
            else "map the send event name in signals.email_sent"
        )
        result.problems.append(
            _problem(
                "events",
                "event",
                count,
                rows,
                f"are email opens ({names}) without an earlier send to the same customer",
                _Raw(f"customer_id {stats['example']!r}"),
                fix,
            )
        )


def _check_amounts(
    e: ibis.Table, value: ibis.FloatingValue, rows: int, cfg: Config, result: _EventResult
) -> None:
    """Payments (signals.payment) carry a non-negative amount unless configured otherwise."""
    payment = cfg.signals.payment
    if not payment or cfg.validation.allow_negative_amounts:
        return
    negative = e.event.isin(payment) & (value < 0)
    stats = (
        e.aggregate(
            n=negative.sum(),
            example=value.min(where=negative),
            customer=e.customer_id.min(where=negative),
        )
        .execute()
        .iloc[0]
    )
    count = 0 if pd.isna(stats["n"]) else int(stats["n"])
    if count:
        names = ", ".join(payment)
        example = _Raw(f"{stats['example']:g} for customer_id {stats['customer']!r}")
        result.problems.append(
            _problem(
                "events",
                "value",
                count,
                rows,
                f"are payments ({names}) with a negative amount",
                example,
                "export refunds under their own event name (not in signals.payment) or fix the "
                "sign, or set validation.allow_negative_amounts: true if negative payments are "
                "meant",
            )
        )


def _check_opens_per_send(e: ibis.Table, cfg: Config, result: _EventResult) -> None:
    """Per customer and 30-day window, email opens may not exceed validation.max_opens_per_send
    per send of the window and the window before (so a send opened after the window's turn is
    covered). Opens before a customer's first send are the orphan rule's, not counted here."""
    opened, sent = cfg.signals.email_open, cfg.signals.email_sent
    if not opened or not sent:
        return
    limit = cfg.validation.max_opens_per_send
    window_s = OPEN_WINDOW_DAYS * 86_400
    mail = e.filter(e.event.isin([*opened, *sent]) & e.customer_id.notnull() & e.ts.notnull())
    mail = mail.select(
        "customer_id",
        "ts",
        _window=(_.ts.epoch_seconds() / window_s).floor().cast("int64"),
        _open=_.event.isin(opened).cast("int64"),
    )
    first_sent = mail.filter(_._open == 0).group_by("customer_id").agg(_first_sent=_.ts.min())
    mail = mail.inner_join(first_sent, "customer_id").filter(
        (_._open == 0) | (_.ts >= _._first_sent)
    )
    per = mail.group_by("customer_id", "_window").agg(
        opens=_._open.sum(), sends=(1 - _._open).sum()
    )
    before = per.select("customer_id", _window=_._window + 1, _sends_before=_.sends)
    joined = per.left_join(before, ["customer_id", "_window"])
    allowed = limit * (joined.sends + joined._sends_before.fill_null(0))
    over = joined.opens > allowed + 1e-9
    stats = (
        joined.aggregate(
            customers=joined.customer_id.nunique(where=over),
            openers=joined.customer_id.nunique(where=joined.opens > 0),
            example=joined.customer_id.min(where=over),
        )
        .execute()
        .iloc[0]
    )
    if not stats["customers"]:
        return
    # Only on failure: the example customer's first window above the limit.
    row = (
        joined.filter(over & (joined.customer_id == stats["example"]))
        .order_by("_window")
        .limit(1)
        .execute()
        .iloc[0]
    )
    start = pd.Timestamp(int(row["_window"]) * window_s, unit="s", tz="UTC")
    sends = int(row["sends"]) + int(0 if pd.isna(row["_sends_before"]) else row["_sends_before"])
    example = _Raw(
        f"customer_id {row['customer_id']!r}, the {OPEN_WINDOW_DAYS} days from "
        f"{start:%Y-%m-%d}: {int(row['opens'])} opens, {sends} send{'s' if sends != 1 else ''} "
        f"in them and the {OPEN_WINDOW_DAYS} days before"
    )
    shown = f" (example: {_show(example)})"
    result.problems.append(
        f"events.event: {int(stats['customers']):,} of {int(stats['openers']):,} customers with "
        f"email opens ({', '.join(opened)}) open more than validation.max_opens_per_send "
        f"({limit:g}) per send ({', '.join(sent)}) in a {OPEN_WINDOW_DAYS}-day window, counting "
        f"the sends of that window and the one before{shown}; export each "
        "open once (unique opens per send), check that signals.email_open and "
        "signals.email_sent name the right events, or raise validation.max_opens_per_send"
    )


@dataclass
class _LabelResult:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cleaned: ibis.Table | None = None


def _check_labels(
    labels: ibis.Table,
    usable: set[str],
    rows: int,
    known: ibis.Table | None,
    cfg: Config,
) -> _LabelResult:
    """Null keys, missing outcomes, repeated (customer, as_of) pairs and unknown split names."""
    result = _LabelResult(cleaned=labels)
    if rows == 0:
        if cfg.churn.source == "labels":
            result.problems.append(
                "labels: the table is empty (0 rows) but churn.source is 'labels'; export the "
                "labels (customer_id, as_of, churned) or derive churn from events"
            )
        return result
    la = labels
    aggregates = {
        f"null_{column}": la[column].isnull().sum()
        for column in ("customer_id", "as_of", "churned")
        if column in usable
    }
    if "split" in usable:
        bad_split = la.split.notnull() & ~la.split.isin(["train", "test"])
        aggregates |= {"bad_split": bad_split.sum(), "example_split": la.split.min(where=bad_split)}
    stats = la.aggregate(**aggregates).execute().iloc[0].to_dict() if aggregates else {}
    if {"customer_id", "as_of"} <= usable:
        keyed = la.filter(la.customer_id.notnull() & la.as_of.notnull())
        stats["complete"] = int(keyed.count().execute())
        stats["pairs"] = int(keyed.select("customer_id", "as_of").distinct().count().execute())
    for column in ("customer_id", "as_of", "churned"):
        count = int(stats.get(f"null_{column}", 0) or 0)
        if count:
            result.problems.append(
                _problem(
                    "labels",
                    column,
                    count,
                    rows,
                    f"have a null {column}",
                    None,
                    f"fill {column} or drop those label rows",
                )
            )
    if int(stats.get("bad_split", 0) or 0):
        result.problems.append(
            _problem(
                "labels",
                "split",
                int(stats["bad_split"]),
                rows,
                "are neither 'train' nor 'test'",
                stats["example_split"],
                "use 'train' or 'test', or drop the split column",
            )
        )
    if "pairs" in stats:
        repeated = stats["complete"] - stats["pairs"]
        if repeated > 0:
            result.problems.append(
                _problem(
                    "labels",
                    "customer_id",
                    repeated,
                    rows,
                    "repeat a (customer_id, as_of) pair already labelled",
                    None,
                    "keep one label per customer and as_of",
                )
            )
    if known is not None and "customer_id" in usable:
        missing = la.anti_join(known.select("customer_id"), "customer_id")
        missing = missing.filter(missing.customer_id.notnull())
        unknown_stats = (
            missing.aggregate(n=missing.count(), example=missing.customer_id.min())
            .execute()
            .iloc[0]
        )
        unknown = int(unknown_stats["n"])
        share = unknown / rows
        limit = cfg.validation.max_unknown_customer_share
        if share > limit:
            result.problems.append(
                _problem(
                    "labels",
                    "customer_id",
                    unknown,
                    rows,
                    f"label customers missing from the customers table ({share:.2%} > {limit:.2%})",
                    unknown_stats["example"],
                    "export those customers or drop their labels",
                )
            )
        elif unknown:
            result.cleaned = la.semi_join(known.select("customer_id"), "customer_id")
            result.warnings.append(
                f"labels.customer_id: dropped {unknown:,} of {rows:,} labels of customers "
                "missing from the customers table"
            )
    return result
