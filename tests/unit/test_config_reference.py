"""The config reference (docs/config-reference.md) is generated from features/config.py and kept
in sync: the file equals what the generator writes, every key and section is explained by a
comment or docstring there, and every key the shipped configs use is in it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from features import config_reference as ref
from features.config import Budget, Config, Decisions, Features, Training

ROOT = Path(__file__).resolve().parents[2]
CONFIG_SOURCE = ROOT / "features" / "config.py"


def test_the_reference_file_is_what_the_generator_writes() -> None:
    assert ref.REFERENCE.read_text() == ref.render(), (
        "docs/config-reference.md is out of date: run `make config-reference`"
    )


def test_every_key_and_section_is_explained_in_features_config() -> None:
    missing = ref.undocumented()
    assert missing == [], (
        f"add a comment above these fields (or a class docstring) in features/config.py, then "
        f"run `make config-reference`: {missing}"
    )


def config_key_paths(node: dict, path: list[str], known: list[ref.Entry]) -> list[str]:
    """The keys of a config file's mapping that the reference does not document."""
    missing = []
    for key, value in node.items():
        here = [*path, str(key)]
        entry = ref.documented(here, known)
        if entry is None:
            missing.append(".".join(here))
        elif entry.section is not None and isinstance(value, dict):
            if entry.items:  # a dict of sections: each item's keys, under <name>
                for name, item in value.items():
                    if isinstance(item, dict):
                        missing += config_key_paths(item, [*here, str(name)], known)
            else:
                missing += config_key_paths(value, here, known)
    return missing


def test_every_key_in_the_shipped_configs_is_documented() -> None:
    known = ref.entries()
    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert paths
    missing = {
        path.name: found
        for path in paths
        if (found := config_key_paths(yaml.safe_load(path.read_text()), [], known))
    }
    assert missing == {}


def test_the_config_key_walk_finds_an_undocumented_key() -> None:
    known = ref.entries()
    raw = {
        "name": "x",
        "training": {"trials": 3, "trails": 4},
        "decisions": {"actions": {"call": {"label": "a call", "cost": 2}}, "high": {"x": "y"}},
    }
    assert config_key_paths(raw, [], known) == ["training.trails", "decisions.actions.call.cost"]


def load_copy(text: str, folder: Path, name: str):
    """Import a changed copy of features/config.py as its own module."""
    path = folder / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the annotations through the module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_a_field_added_without_a_comment_fails(tmp_path) -> None:
    text = CONFIG_SOURCE.read_text()
    anchor = "    significance_sd: float = Field(default=3.0, ge=0)\n"
    assert text.count(anchor) == 1
    changed = text.replace(anchor, anchor + "    new_knob: int = Field(default=3, ge=1)\n")
    module = load_copy(changed, tmp_path, "config_without_comment")
    source = ref.Source.parse(changed)
    before = ref.undocumented()  # empty, unless the test above fails too
    assert ref.undocumented(module.Config, source) == [*before, "backtest.new_knob"]
    rendered = ref.render(module.Config, source)
    assert "- `backtest.new_knob`: `int ≥ 1`, default `3`." in rendered
    assert rendered != ref.REFERENCE.read_text()  # the sync test would fail too

    commented = text.replace(
        anchor, anchor + "    # Turns the knob.\n    new_knob: int = Field(default=3, ge=1)\n"
    )
    module = load_copy(commented, tmp_path, "config_with_comment")
    source = ref.Source.parse(commented)
    assert ref.undocumented(module.Config, source) == before
    assert "- `backtest.new_knob`: `int ≥ 1`, default `3`.\n  Turns the knob." in ref.render(
        module.Config, source
    )


def test_a_section_without_a_docstring_fails(tmp_path) -> None:
    text = CONFIG_SOURCE.read_text()
    docstring = '    """What the SHAP summary of a training run and the HTML report draw from."""\n'
    assert text.count(docstring) == 1
    changed = text.replace(docstring, "")
    module = load_copy(changed, tmp_path, "config_without_docstring")
    assert ref.undocumented(module.Config, ref.Source.parse(changed)) == [
        *ref.undocumented(),
        "ReportSettings (class docstring)",
    ]


def test_comments_are_read_above_a_field_and_after_it() -> None:
    source = ref.Source.parse(
        "class A:\n"
        '    """Doc."""\n'
        "\n"
        "    # Not this one: a blank line follows.\n"
        "\n"
        "    # First line of a word broken at expected-\n"
        "    # maximum, joined.\n"
        "    a: int = 1\n"
        "    b: int = 2  # trailing\n"
        "    c: list[int] = [\n"
        "        1,\n"
        "    ]  # after a field over lines\n"
        "    d: int = 4\n"
        "    x = '# not a comment'\n"
    )
    assert source.comments == {
        ("A", "a"): "First line of a word broken at expected-maximum, joined.",
        ("A", "b"): "trailing",
        ("A", "c"): "after a field over lines",
        ("A", "d"): "",
    }
    assert source.docstrings == {"A": "Doc."}


@pytest.mark.parametrize(
    ("model", "field", "text"),
    [
        (Training, "embargo", '"strict" | "test_only"'),
        (Training, "trials", "int ≥ 1"),
        (Training, "leakage_auc", "float in (0.5, 1]"),
        (Training, "timeout_seconds", "float > 0 | null"),
        (Budget, "share", "float in (0, 1] | null"),
        (Decisions, "consent", "dict[str, str]"),
        (Decisions, "actions", "dict[str, section]"),
        (Decisions, "control_share", "float in [0, 1)"),
        (Features, "builders", "list[str], at least 1 item"),
        (Config, "signals", "section"),
    ],
)
def test_types_read_as_a_yaml_writer_would(model, field, text) -> None:
    info = model.model_fields[field]
    assert ref.type_text(info.annotation, info.metadata) == text


def test_the_reference_names_every_dotted_path_and_defaults() -> None:
    text = ref.render()
    for line in (
        "- `decisions.actions.<name>.save_rate`: `float in [0, 1]`, default `0.3`.",
        "- `decisions.budget`: `section`, default `{share: 0.05}`.",
        '- `churn.source`: `"events" | "inactivity" | "labels"`, required.',
        "- `backtest.observed_to_expected_band`: `[float, float]`, default `[0.8, 1.25]`.",
        "  - `data.events.columns`: `dict[str, str]`, default `{}`.",
    ):
        assert line in text
    order = [text.index(f"\n## {name}\n") for name in Config.model_fields if name != "name"]
    assert order == sorted(order)


def test_check_fails_on_a_stale_file_and_passes_after_writing(tmp_path, caplog) -> None:
    out = tmp_path / "reference.md"
    if ref.undocumented():
        pytest.skip("features/config.py has an undocumented key (the test above names it)")
    assert ref.main(["--check", "--out", str(out)]) == 1
    assert "make config-reference" in caplog.text
    assert ref.main(["--out", str(out)]) == 0
    assert ref.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text() + "edited by hand\n")
    assert ref.main(["--check", "--out", str(out)]) == 1
