"""The I/O of `churn init`: open and profile the dataset, validate, write the config atomically."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from features.atomic import atomic_file
from features.config import Config, DataSources, EngineSettings, load_config
from features.contract import CUSTOMERS, EVENTS
from features.dataset import Dataset, open_dataset
from features.errors import ChurnError, ConfigError, DataContractError
from features.init_config import (
    activity_gaps,
    profile_dataset,
    propose,
    render,
    trailing_revenue,
)
from features.validated import bounded_duckdb
from features.validation import validate_dataset


def read_sources(path: Path | None) -> DataSources:
    """The `data:` section of a YAML file (how an export maps onto the contract), or none."""
    if path is None:
        return DataSources()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"--sources {path}: expected a mapping with a data: section")
        return DataSources.model_validate(raw.get("data", raw))
    except FileNotFoundError:
        raise ConfigError(f"--sources {path}: no such file") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"--sources {path}: {str(exc).splitlines()[0]}") from None


def require_contract_columns(dataset: Dataset) -> None:
    """Fail naming a missing contract column (and the mapping that fixes it) before profiling."""
    problems = []
    for schema in (CUSTOMERS, EVENTS):
        table = getattr(dataset, schema.name)
        missing = [c for c in schema.required if c not in table.columns]
        if missing:
            problems.append(
                f"{schema.name}: no column {missing} (columns: {', '.join(table.columns)}); map "
                f"your export's names with --sources FILE holding a data: section, e.g. "
                f"data.{schema.name}.columns.{missing[0]}: <your column>"
            )
    if problems:
        raise DataContractError(problems)


def write_starter_config(
    data: Path, out: Path, force: bool = False, sources: Path | None = None
) -> list[str]:
    """Propose a config for `data` (opened as the `sources` file's data: section says), write it
    to `out` with that section, and return the summary lines."""
    if out.exists() and not force:
        raise ChurnError(f"{out} exists; pass --force to replace it, or choose another --out")
    mapping = read_sources(sources)
    dataset = open_dataset(data, sources=mapping)  # a missing table fails here, before any write
    require_contract_columns(dataset)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", data.resolve().name).strip("-._") or "my-data"
    with bounded_duckdb(dataset.con, EngineSettings().duckdb_memory_limit):
        profile = profile_dataset(dataset)
        first = propose(profile, name=name)
        activity = first.config["signals"]["activity"]
        gaps = activity_gaps(dataset, activity) if activity else {}
        payments = first.config["signals"]["payment"]
        revenue = trailing_revenue(dataset, payments) if payments else {}
        proposal = propose(profile, gaps, revenue, name=name)
        if mapping != DataSources():
            proposal.config = {
                "name": name,
                "data": mapping.model_dump(exclude_defaults=True),
                **{k: v for k, v in proposal.config.items() if k != "name"},
            }
        cfg = Config.model_validate(proposal.config)
        problems: list[str] = []
        try:
            validate_dataset(dataset, cfg)
        except DataContractError as exc:
            problems = exc.problems
    text = render(proposal, problems)
    Config.model_validate(yaml.safe_load(text))
    with atomic_file(out) as staging:
        staging.write_text(text)
        try:
            load_config(staging)
        except ConfigError as exc:  # never publish a config that does not load
            raise ConfigError(f"churn init proposed an invalid config: {exc}") from None
    lines = [f"wrote {out}", *proposal.summary]
    if problems:
        lines.append(
            f"validation FAILED with {len(problems)} problem(s) (listed at the top of {out}); "
            "the profile above is from what could be read"
        )
    elif proposal.config["snapshots"]["count"] < 3:
        lines.append(proposal.notes["snapshots"][-1])
    else:
        lines.append("validation passed with this config; next: churn validate / churn train")
    return lines
