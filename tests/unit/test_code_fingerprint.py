"""The feature-code fingerprint: what counts as a change, and scoring's refusal naming it."""

from __future__ import annotations

import importlib.util
import linecache
import logging
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from features import registry
from features.code_fingerprint import (
    SHARED_MODULES,
    _normalise,
    builder_hash,
    code_changes,
    feature_code,
)
from features.config import load_config
from models.fitting import Provenance
from models.scoring import ModelMismatchError, check_feature_code
from models.spec import FeatureSpec

ORIGINAL = '''
def f(ctx):
    """Counts."""
    return ctx.count("support_contact", 7)
'''


def test_comments_docstrings_and_spacing_are_not_changes() -> None:
    reworded = '''

def f(ctx):
    """Support contacts in the week before the cutoff; a longer docstring."""
    # a comment
    return ctx.count( "support_contact",   7 )  # another
'''
    assert _normalise(ORIGINAL) == _normalise(reworded)
    assert _normalise(ORIGINAL) != _normalise(ORIGINAL.replace("7)", "10)"))
    assert _normalise(ORIGINAL) != _normalise(ORIGINAL.replace('"support_contact"', '"faq"'))


def support_contacts_7d(ctx):
    """Support calls and chats in the 7 days before the cutoff."""
    return ctx.count("support_contact", 10)  # edited: a 10-day window under the 7-day name


@pytest.fixture
def edited_builder(monkeypatch):
    """`support_contacts_7d` registered with another implementation of the same name."""
    builders = registry.available_builders()
    edited = replace(builders["support_contacts_7d"], build=support_contacts_7d)
    monkeypatch.setitem(registry._REGISTRY, "support_contacts_7d", edited)
    return edited


def model_with(extra: dict) -> SimpleNamespace:
    spec = FeatureSpec(["support_contacts_7d"], {"support_contacts_7d": "float64"}, {}, extra=extra)
    return SimpleNamespace(spec=spec)


def test_the_model_records_a_hash_per_builder_and_of_the_shared_modules() -> None:
    cfg = load_config()
    provenance = Provenance.of(cfg, "abc123")
    recorded = provenance.feature_code
    assert list(recorded["builders"]) == cfg.features.builders
    assert set(recorded["shared"]) == set(SHARED_MODULES)
    assert recorded == feature_code(cfg.features.builders)  # stable from one call to the next
    assert len(set(recorded["builders"].values())) == len(cfg.features.builders)


def test_a_changed_builder_is_named_and_only_it(edited_builder) -> None:
    cfg = load_config()
    before = {**feature_code(cfg.features.builders)}
    before["builders"] = {**before["builders"], "support_contacts_7d": "0" * 16}
    assert builder_hash(edited_builder) != "0" * 16
    assert code_changes(before, feature_code(cfg.features.builders)) == ["support_contacts_7d"]


def test_scoring_refuses_changed_feature_code_unless_allowed(monkeypatch, caplog) -> None:
    trained = feature_code(["support_contacts_7d", "support_contacts_30d"])
    model = model_with({"feature_code": trained})
    assert check_feature_code(model, "models:/m/1") == {"status": "same"}

    builders = registry.available_builders()
    edited = replace(builders["support_contacts_7d"], build=support_contacts_7d)
    monkeypatch.setitem(registry._REGISTRY, "support_contacts_7d", edited)
    with pytest.raises(ModelMismatchError) as refused:
        check_feature_code(model, "models:/m/1")
    message = str(refused.value)
    assert "feature code changed since training: support_contacts_7d;" in message
    assert "support_contacts_30d" not in message
    assert "--allow-code-change" in message and "retrain" in message
    with caplog.at_level(logging.WARNING):
        allowed = check_feature_code(model, "models:/m/1", allow=True)
    assert allowed == {"status": "changed", "changed": ["support_contacts_7d"], "allowed": True}
    assert "--allow-code-change" in caplog.text


def test_a_changed_shared_module_is_named(monkeypatch) -> None:
    trained = feature_code(["support_contacts_7d"])
    trained["shared"] = {**trained["shared"], "features.context": "f" * 16}
    with pytest.raises(ModelMismatchError, match=r"shared features\.context \(every feature\)"):
        check_feature_code(model_with({"feature_code": trained}), "models:/m/1")


def test_a_model_trained_before_fingerprints_scores_with_a_warning(caplog) -> None:
    legacy = model_with({"features_fingerprint": "1234"})
    with caplog.at_level(logging.WARNING):
        assert check_feature_code(legacy, "models:/m/1") == {"status": "unchecked"}
    assert "no feature-code fingerprint" in caplog.text


FAMILY = '''
from features.registry import register

DAYS = 7


def _window(ctx, days):
    return ctx.count("support_contact", days)


@register(family="support", reason="contacted support {value:.0f} times")
def copy_contacts_short(ctx):
    """Short window."""
    return _window(ctx, DAYS)


@register(family="support", reason="contacted support {value:.0f} times")
def copy_contacts_long(ctx):
    """Long window."""
    return _window(ctx, 90)
'''


def load_family(path, source: str):
    """Write and import a family module; the hashes of its builders."""
    path.write_text(source)
    linecache.clearcache()  # a same-size edit within the clock's resolution: read it again
    spec = importlib.util.spec_from_file_location("copy_family", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["copy_family"] = module
    spec.loader.exec_module(module)
    names = ["copy_contacts_short", "copy_contacts_long"]
    return {name: builder_hash(registry._REGISTRY[name]) for name in names}


def test_an_edited_copy_of_a_family_names_what_the_edit_touches(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setitem(sys.modules, "copy_family", None)  # removed again after the test
    path = tmp_path / "copy_family.py"
    original = load_family(path, FAMILY)
    # Rewording a reason or a docstring, or adding a comment, changes nothing.
    reworded = FAMILY.replace('"""Short window."""', '"""The short window."""  # note')
    assert load_family(path, reworded.replace("{value:.0f} times", "{value:.0f}x")) == original
    # A builder's own code: only that builder.
    edited = load_family(path, FAMILY.replace("_window(ctx, 90)", "_window(ctx, 60)"))
    assert edited["copy_contacts_short"] == original["copy_contacts_short"]
    assert edited["copy_contacts_long"] != original["copy_contacts_long"]
    # A helper or constant of the module: every builder of the module.
    helper = load_family(path, FAMILY.replace("DAYS = 7", "DAYS = 10"))
    assert all(helper[name] != original[name] for name in original)
