"""The config reference (docs/config-reference.md), generated from the pydantic models.

Types, defaults and constraints come from the models (`features.config.Config` and its
sections); what a key means comes from the comments written above each field (and a trailing
comment on its line) and from the class docstrings in features/config.py, read with `tokenize`
and `ast`, so those comments stay the one place a setting is explained.

    python -m features.config_reference           # rewrite docs/config-reference.md
    python -m features.config_reference --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import logging
import sys
import tokenize
import types
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "config-reference.md"
HOW_TO_REGENERATE = "make config-reference"
NAME = "<name>"  # the path segment of a dict's items (decisions.actions.<name>.save_rate)


@dataclass(frozen=True)
class Entry:
    """One documented key."""

    path: str  # dotted, with <name> for a dict's item
    type: str
    default: str
    meaning: str
    depth: int  # 0: a key of a top-level section; 1: of a section inside it, ...
    section: type[BaseModel] | None = None  # the model of a nested section or a dict's items
    items: bool = False  # `section` is the model of a dict's items
    docstring: str = ""


@dataclass(frozen=True)
class Source:
    """The comments and docstrings of the module that defines the models."""

    comments: dict[tuple[str, str], str]  # (class, field) -> its comment text
    docstrings: dict[str, str]  # class -> its docstring

    @classmethod
    def of(cls, model: type[BaseModel]) -> Source:
        return cls.parse(Path(inspect.getsourcefile(model) or "").read_text())

    @classmethod
    def parse(cls, text: str) -> Source:
        full_line: dict[int, str] = {}  # line -> comment alone on its line
        trailing: dict[int, str] = {}  # line -> comment after code
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT:
                continue
            line, column = token.start
            words = token.string.lstrip("#").strip()
            if token.line[:column].strip():
                trailing[line] = words
            else:
                full_line[line] = words
        comments: dict[tuple[str, str], str] = {}
        docstrings: dict[str, str] = {}
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ClassDef):
                continue
            docstrings[node.name] = ast.get_docstring(node) or ""
            for statement in node.body:
                if not (
                    isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                ):
                    continue
                above: list[str] = []
                line = statement.lineno - 1
                while line in full_line:  # the comment block right above, no blank line between
                    above.insert(0, full_line[line])
                    line -= 1
                end = statement.end_lineno or statement.lineno
                inline = [trailing[n] for n in range(statement.lineno, end + 1) if n in trailing]
                comments[node.name, statement.target.id] = joined(above + inline)
        return cls(comments, docstrings)

    def comment(self, model: type[BaseModel], field: str) -> str:
        """The comment of `field` where it is declared (the model or the base defining it)."""
        for klass in model.__mro__:
            if (klass.__name__, field) in self.comments:
                return self.comments[klass.__name__, field]
        return ""

    def docstring(self, model: type[BaseModel]) -> str:
        return self.docstrings.get(model.__name__, "")


def joined(lines: list[str]) -> str:
    """Wrapped lines as one line; a word broken after a hyphen (`expected-maximum-`) is rejoined."""
    text = ""
    for line in (line.strip() for line in lines):
        if not line:
            continue
        gap = "" if not text or (text.endswith("-") and text[-2:-1].isalpha()) else " "
        text += gap + line
    return text


def paragraphs(text: str) -> list[str]:
    """A docstring's paragraphs, each as one line."""
    return [joined(block.splitlines()) for block in text.split("\n\n") if block.strip()]


# ---------- types and defaults, in the words a YAML writer uses ----------

SCALARS = {int: "int", float: "float", str: "str", bool: "bool", date: "date (YYYY-MM-DD)"}


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(metadata: list) -> str:
    """Numeric constraints: `≥ 1`, `> 0`, `in (0, 1]`."""
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            low = ("(", item.gt)
        elif isinstance(item, annotated_types.Ge):
            low = ("[", item.ge)
        elif isinstance(item, annotated_types.Lt):
            high = (")", item.lt)
        elif isinstance(item, annotated_types.Le):
            high = ("]", item.le)
    if low and high:
        return f" in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return f" {'>' if low[0] == '(' else '≥'} {_number(low[1])}"
    if high:
        return f" {'<' if high[0] == ')' else '≤'} {_number(high[1])}"
    return ""


def _lengths(metadata: list, unit: str) -> str:
    for item in metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            if unit == "str":
                return ", non-empty"
            plural = "" if item.min_length == 1 else "s"
            return f", at least {item.min_length} {unit}{plural}"
    return ""


def _pattern(metadata: list) -> str:
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if pattern:
            return f" matching {pattern}"
    return ""


def type_text(annotation: object, metadata: list | None = None) -> str:
    """A field's type as a reader writes it: `int ≥ 1`, `"strict" | "test_only"`, `list[str]`."""
    metadata = list(metadata or [])
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return type_text(base, [*extra, *metadata])
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(arg, metadata) for arg in get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(json.dumps(value) for value in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        return f"list[{type_text(item)}]{_lengths(metadata, 'item')}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"dict[{type_text(key)}, {type_text(value)}]"
    if origin is tuple:
        return "[" + ", ".join(type_text(arg) for arg in get_args(annotation)) + "]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation in SCALARS:
        text = SCALARS[annotation]  # type: ignore[index]
        if annotation in (int, float):
            return text + _bounds(metadata)
        if annotation is str:
            return text + _lengths(metadata, "str") + _pattern(metadata)
        return text
    return str(annotation)


def _plain(value: object) -> object:
    """A default as plain YAML data; a section only with what differs from its own defaults."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:  # pragma: no cover - pydantic says required then
        return "required"
    text = yaml.safe_dump(_plain(value), default_flow_style=True, sort_keys=False, width=10**6)
    return text.removesuffix("\n...\n").strip()


# ---------- the entries ----------


def _item_model(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """The model of a nested section (and False), or of a dict's items (and True)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value, True
    return None, False


def section_entries(
    model: type[BaseModel], prefix: str, source: Source, depth: int = 0
) -> list[Entry]:
    """Every key of a section, nested sections and a dict's item fields included."""
    entries = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}"
        nested, is_dict = _item_model(field.annotation)
        meaning = source.comment(model, name)
        if nested is not None and not meaning and not is_dict:
            meaning = source.docstring(nested)  # a nested section is its class's docstring
        entries.append(
            Entry(
                path=path,
                type=type_text(field.annotation, field.metadata),
                default=default_text(field),
                meaning=meaning,
                depth=depth,
                section=nested,
                items=is_dict,
                docstring=source.docstring(nested) if nested is not None else "",
            )
        )
        if nested is not None:
            child = f"{path}.{NAME}" if is_dict else path
            entries += section_entries(nested, child, source, depth + 1)
    return entries


def _config() -> type[BaseModel]:
    from features.config import Config

    return Config


@dataclass(frozen=True)
class Section:
    """A top-level section of the config (or the top-level keys, name "")."""

    name: str
    model: type[BaseModel] | None
    required: bool
    docstring: str
    entries: list[Entry]


def sections(config: type[BaseModel] | None = None, source: Source | None = None) -> list[Section]:
    """The config's sections in the order of the Config class, the top-level keys first."""
    config = config or _config()
    source = source or Source.of(config)
    top: list[Entry] = []
    found = []
    for name, field in config.model_fields.items():
        nested, is_dict = _item_model(field.annotation)
        if nested is None or is_dict:
            top.append(
                Entry(
                    name,
                    type_text(field.annotation, field.metadata),
                    default_text(field),
                    source.comment(config, name),
                    0,
                )
            )
            continue
        found.append(
            Section(
                name,
                nested,
                field.is_required(),
                source.docstring(nested),
                section_entries(nested, name, source),
            )
        )
    return [Section("", None, True, source.docstring(config), top), *found]


def entries(config: type[BaseModel] | None = None, source: Source | None = None) -> list[Entry]:
    """Every documented key, in the reference's order, the top-level sections included."""
    found = []
    for section in sections(config, source):
        if section.model is not None:
            found.append(Entry(section.name, "section", "", section.docstring, -1, section.model))
        found += section.entries
    return found


def undocumented(config: type[BaseModel] | None = None, source: Source | None = None) -> list[str]:
    """Keys without a meaning and sections without a docstring: each needs a comment."""
    found = sections(config, source)
    missing = [entry.path for section in found for entry in section.entries if not entry.meaning]
    missing += [
        f"{(section.model or config or _config()).__name__} (class docstring)"
        for section in found
        if not section.docstring
    ]
    return missing


def documented(path: list[str], known: list[Entry]) -> Entry | None:
    """The entry documenting a key path as written in a config (a dict's item names match
    `<name>`), or None."""
    for entry in known:
        parts = entry.path.split(".")
        if len(parts) == len(path) and all(
            part in (key, NAME) for key, part in zip(path, parts, strict=True)
        ):
            return entry
    return None


# ---------- markdown ----------

INTRO = """\
Every key of a config file (`configs/*.yaml`, or the one `churn init` writes), by its full dotted
path, with its type, its default and what it means. The config is validated at load by the
pydantic models in `features/config.py`: an unknown key or a bad value fails with its path, so a
typo never goes unnoticed. A key left out takes its default; a `required` key has none.

Types are written as in YAML: `null` is YAML's null (`~` or an empty value), `date` is
`YYYY-MM-DD`, `a | b` means either, `int ≥ 1` and `float in (0, 1]` are the allowed ranges
(`(` and `)` exclude the bound, `[` and `]` include it). `dict[str, X]` is a mapping whose keys
you name; where its items are sections, their keys are listed under `<name>`. Defaults are
written as YAML (a string needs no quotes)."""


def _bullet(entry: Entry) -> list[str]:
    indent = "  " * entry.depth
    default = "required" if entry.default == "required" else f"default `{entry.default}`"
    lines = [f"{indent}- `{entry.path}`: `{entry.type}`, {default}."]
    if entry.meaning:
        lines.append(f"{indent}  {entry.meaning}")
    if entry.section is not None and entry.docstring and entry.docstring != entry.meaning:
        each = f"Each `{NAME}`: " if entry.items else ""
        lines.append(f"{indent}  {each}{' '.join(paragraphs(entry.docstring))}")
    return lines


def render(config: type[BaseModel] | None = None, source: Source | None = None) -> str:
    found = sections(config, source)
    top, rest = found[0], found[1:]
    lines = [
        "# Config reference",
        "",
        "<!-- Generated from features/config.py by `python -m features.config_reference` "
        f"(`{HOW_TO_REGENERATE}`); do not edit by hand: edit the comments there. -->",
        "",
        INTRO,
        "",
        *paragraphs(top.docstring),
        "",
        "Sections, in the order of a config file: "
        + ", ".join(f"[`{s.name}`](#{s.name})" for s in rest)
        + ".",
        "",
        "## Top-level keys",
        "",
    ]
    for entry in top.entries:
        lines += _bullet(entry)
    for section in rest:
        required = (
            "Required." if section.required else "Optional: left out, every key takes its default."
        )
        lines += ["", f"## {section.name}", ""]
        for paragraph in paragraphs(section.docstring):
            lines += [paragraph, ""]
        lines += [required, ""]
        for entry in section.entries:
            lines += _bullet(entry)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--out", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)
    missing = undocumented()
    if missing:
        log.error("features/config.py: add a comment above %s", missing)
        return 1
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            log.error("%s is out of date: run `%s`", args.out, HOW_TO_REGENERATE)
            return 1
        log.info("%s is up to date", args.out)
        return 0
    args.out.write_text(text)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
