"""Config keys that moved say where they went; every failure kind has its own exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from features import errors
from features.config import DEFAULT_CONFIG, load_config
from features.errors import ConfigError


@pytest.mark.parametrize(
    ("section", "key", "new_place"),
    [
        ("scoring", "duckdb_memory_limit", "engine.duckdb_memory_limit"),
        ("training", "shap_sample_rows", "report.shap_sample_rows"),
    ],
)
def test_a_moved_key_names_its_new_place(tmp_path: Path, section, key, new_place) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.setdefault(section, {})[key] = "2GB" if "memory" in key else 500
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=rf"{section}\.{key}: moved to {new_place}"):
        load_config(path)


def test_moved_settings_are_read_from_their_sections(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["engine"] = {"duckdb_memory_limit": "512MB"}
    raw["report"] = {"shap_sample_rows": 300}
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert (cfg.engine.duckdb_memory_limit, cfg.report.shap_sample_rows) == ("512MB", 300)


def test_each_failure_kind_has_a_distinct_exit_code() -> None:
    kinds = [
        errors.ChurnError,
        errors.ConfigError,
        errors.DataContractError,
        errors.FeedError,
        errors.DriftError,
        errors.RetrainRecommended,
    ]
    codes = [kind.exit_code for kind in kinds]
    assert codes == [1, 2, 3, 4, 5, 6]
    assert errors.EXIT_OK == 0 not in codes
