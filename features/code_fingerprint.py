"""Hashes of the code that computes the features, stored with a model and compared at scoring.

A model is only valid for the feature code it was trained on: a builder edited from a 7-day to a
10-day window still yields a column of the same name and type, so the spec check cannot see it.
What is hashed (sha256 of the normalised source, 16 hex digits each):

- per builder: the builder function itself (decorator left out: the reason wording changes no
  number) with its registered `source` and `missing` fill, plus the rest of its family module
  (helpers and constants it may call, e.g. `_revenue`), so a change names the builders it touches;
- shared: `SHARED_MODULES`, which every builder goes through (the windows and reductions of
  the feature context, the matrix's joins, fills and types, the snapshot population).

Not hashed: loading and validation (what data is read, not how features are computed), the
registry's bookkeeping, and library versions (recorded with the run). Normalising drops comments,
docstrings, blank lines and spacing, so only code edits count.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import sys
import textwrap
import tokenize
from collections.abc import Iterable
from importlib import import_module

from features.registry import FeatureBuilder, available_builders

SHARED_MODULES = ("features.context", "features.matrix", "features.snapshots")
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


def feature_code(builders: Iterable[str]) -> dict[str, dict[str, str]]:
    """`{"builders": {name: hash}, "shared": {module: hash}}` for the named builders."""
    registry = available_builders()
    return {
        "builders": {name: builder_hash(registry[name]) for name in builders if name in registry},
        "shared": {module: _hash(_module_source(module)) for module in SHARED_MODULES},
    }


def code_changes(recorded: dict, current: dict) -> list[str]:
    """What differs from the recorded hashes: changed or missing builders by name, then shared
    modules (which every feature goes through)."""
    now = current.get("builders", {})
    changed = [
        name for name, digest in recorded.get("builders", {}).items() if now.get(name) != digest
    ]
    shared = current.get("shared", {})
    changed += [
        f"shared {module} (every feature)"
        for module, digest in recorded.get("shared", {}).items()
        if shared.get(module) != digest
    ]
    return changed


def builder_hash(builder: FeatureBuilder) -> str:
    """The builder's own code, its fill and source, and the rest of its module."""
    func = builder.build
    module = sys.modules.get(func.__module__)
    rest = _module_rest(module) if module is not None else ""
    own = _normalise(_without_decorators(inspect.getsource(func)))
    return _hash(f"{own}\n{builder.source}\n{builder.missing!r}\n{rest}")


def _module_source(name: str) -> str:
    return _normalise(inspect.getsource(import_module(name)))


def _module_rest(module) -> str:
    """A module's code without the builder functions it registers (hashed one by one)."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # no source file (e.g. defined interactively)
        return ""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    kept = []
    for node in tree.body:
        if _is_builder(node):
            continue
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        kept.append("".join(lines[start - 1 : node.end_lineno]))
    return _normalise("\n".join(kept))


def _is_builder(node: ast.stmt) -> bool:
    """A function decorated with `@register(...)`: a builder, hashed on its own."""
    if not isinstance(node, ast.FunctionDef):
        return False
    for decorator in node.decorator_list:
        called = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        if name == "register":
            return True
    return False


def _without_decorators(source: str) -> str:
    """A function's source from its `def` line on."""
    source = textwrap.dedent(source)
    node = ast.parse(source).body[0]
    return "".join(source.splitlines(keepends=True)[node.lineno - 1 :])


def _normalise(source: str) -> str:
    """The token stream without comments, docstrings, blank lines and spacing."""
    source = textwrap.dedent(source)
    docstrings = _docstring_spans(source)
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _SKIPPED:
            continue
        if token.type == tokenize.STRING and any(a <= token.start <= b for a, b in docstrings):
            continue
        if token.type == tokenize.INDENT:
            tokens.append("<indent>")
        elif token.type == tokenize.DEDENT:
            tokens.append("<dedent>")
        else:
            tokens.append(token.string if token.type != tokenize.NEWLINE else "\n")
    return " ".join(tokens)


def _docstring_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the docstrings of the module, its classes and functions are."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            spans.append(
                ((first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset))
            )
    return spans


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
