"""The I/O of `churn init`: open and profile the dataset, validate, write the config atomically."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from features.atomic import atomic_file
from features.config import Config, EngineSettings, load_config
from features.dataset import open_dataset
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


def write_starter_config(data: Path, out: Path, force: bool = False) -> list[str]:
    """Propose a config for `data`, write it to `out`, and return the summary lines."""
    if out.exists() and not force:
        raise ChurnError(f"{out} exists; pass --force to replace it, or choose another --out")
    dataset = open_dataset(data)  # a missing dataset or table fails here, before any write
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", data.resolve().name).strip("-._") or "my-data"
    with bounded_duckdb(dataset.con, EngineSettings().duckdb_memory_limit):
        profile = profile_dataset(dataset)
        first = propose(profile, name=name)
        activity = first.config["signals"]["activity"]
        gaps = activity_gaps(dataset, activity) if activity else {}
        payments = first.config["signals"]["payment"]
        revenue = trailing_revenue(dataset, payments) if payments else {}
        proposal = propose(profile, gaps, revenue, name=name)
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
    else:
        lines.append("validation passed with this config; next: churn validate / churn train")
    return lines
