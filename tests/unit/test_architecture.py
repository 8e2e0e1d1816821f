"""The project's shape, checked: no import cycles, imports point down the layers, the jobs stay
thin, and the scores schema and the contract's names are defined once.

Imports are read with `ast` from every .py file of the project packages, module-level and
function-local alike; imports under `if TYPE_CHECKING:` never run, so they make no cycle (they
still count for the layers: a type from a higher layer is a dependency on it). That the matrix
and the model spec share the contract's KEY_COLUMNS object is in tests/contract/test_contract.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest layer first: a package may import only from the packages before it (and itself).
LAYERS = ("features", "models", "reporting", "pipelines")
MAX_PIPELINE_LINES = 250
# Names that are defined at module level in one place only, and that place.
ONE_HOME = {
    "KEY_COLUMNS": "features/contract.py",
    "SCHEMA": "features/contract.py",
    "EVENTS_SCHEMA": "features/importers/common.py",  # derived from the contract
    "TIERS": "models/decisions.py",
    "EPSILON": "models/calibration.py",
}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project packages."""
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(
    name: str, path: Path, modules: dict[str, Path], *, type_checking: bool
) -> set[str]:
    """The project modules `name` imports anywhere in its file; `from pkg import mod` is `pkg.mod`
    when that is a module. Imports under `if TYPE_CHECKING:` count only if `type_checking`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                skipped.update(id(sub) for child in node.body for sub in ast.walk(child))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, node.module] if node.module else parent)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    found = set()
    for target in targets:
        while target and target not in modules:  # `import a.b.c` where c is not a module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: imported_modules(name, path, modules, type_checking=type_checking)
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first, in name order)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)):
                return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return None


def test_the_import_graph_sees_function_local_imports_and_skips_type_checking() -> None:
    graph = import_graph()
    assert "features.registry" in graph["features.config"]  # inside the builder-name validator
    assert "models.registry" in graph["pipelines.catalog.model_store"]  # inside a function
    assert "features.context" in graph["features.families.support"]  # module level
    assert "pipelines.catalog" not in graph["pipelines.manifest"]  # only under TYPE_CHECKING
    assert "models.bundle" in import_graph(type_checking=True)["reporting.figures"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_loading_the_feature_families_does_not_import_the_config() -> None:
    """The registry loads the family modules by name (`import_module`), which ast cannot follow:
    the config's validator calls the registry, so a family importing the config is a cycle."""
    code = (
        "import sys, features.registry; features.registry.available_builders(); "
        "print('features.config' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_imports_point_down_the_layers() -> None:
    rank = {package: index for index, package in enumerate(LAYERS)}
    upward = [
        f"{module} imports {target}"
        for module, targets in sorted(import_graph(type_checking=True).items())
        for target in sorted(targets)
        if rank[target.split(".")[0]] > rank[module.split(".")[0]]
    ]
    assert upward == []


def test_pipeline_modules_stay_short() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in sorted((ROOT / "pipelines").rglob("*.py"))
    }
    assert lengths
    assert {path: n for path, n in lengths.items() if n > MAX_PIPELINE_LINES} == {}


def test_the_scores_schema_is_the_contract() -> None:
    from features.contract import SCORES
    from models.scoring import SCORE_COLUMNS
    from pipelines.catalog import SCORES_ARROW

    assert SCORES_ARROW.equals(SCORES.arrow())
    assert SCORES.names == SCORE_COLUMNS


def module_level_names(path: Path) -> set[str]:
    """Names assigned by the module's own statements (not inside functions or classes)."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text(), filename=str(path)).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, block, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def test_contract_names_are_assigned_in_one_place_each() -> None:
    where: dict[str, list[str]] = {name: [] for name in ONE_HOME}
    for path in project_modules().values():
        for name in module_level_names(path) & set(ONE_HOME):
            where[name].append(str(path.relative_to(ROOT)))
    elsewhere = {name: [p for p in paths if p != ONE_HOME[name]] for name, paths in where.items()}
    assert {name: paths for name, paths in elsewhere.items() if paths} == {}
    # The allowed homes still define them (SCHEMA is reserved for the contract).
    assert all(ONE_HOME[name] in where[name] for name in ONE_HOME if name != "SCHEMA")
