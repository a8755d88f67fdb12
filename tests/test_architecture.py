"""The package's imports flow one way: from the schema up to the edges, with no cycle.

The import graph is read from the source with ``ast``, imports inside functions
included (only ``if TYPE_CHECKING:`` blocks are left out), so a late import that goes
upward fails here just like one at module level. docs/architecture.md describes the
same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "flext_logging"
TOP = PACKAGE.name

# Bottom to top. A module may import modules of its own layer or of a lower one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("schema", ("keys", "presets")),
    ("values", ("_display", "_jsonsafe", "redaction", "result", "settings")),
    ("context", ("context",)),
    ("errors", ("exceptions", "tracebacks")),
    ("enrichers", ("processors",)),
    ("renderers", ("renderers",)),
    ("outputs", ("outputs",)),
    ("pipeline", ("_pipeline",)),
    ("entry points", ("logger", "stdlib", "structlog_bridge")),
    ("configuration", ("_config",)),
    ("api", ("testing", "concurrency", "_pytest_plugin")),
    ("edges", ("integrations", "cli", "__main__")),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for part in node.body for inner in ast.walk(part))
    return skipped


def _owning_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_in(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """The package modules that *source*, the code of *module*, imports anywhere."""
    tree = ast.parse(source)
    skipped = _type_checking_nodes(tree)
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if base != TOP:  # the lazy facade: only its submodules count, below
                found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    owners = {_owning_module(name) for name in found if name.split(".")[0] == TOP}
    return {owner for owner in owners if owner is not None and owner not in (module, TOP)}


GRAPH = {
    module: imports_in(
        path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
    )
    for module, path in MODULES.items()
}


def layer_of(module: str) -> int:
    """The index of the layer *module* belongs to."""
    short = module.removeprefix(f"{TOP}.")
    for index, (_, members) in enumerate(LAYERS):
        if short.split(".")[0] in members:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and to the docs")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_imports_have_no_cycle() -> None:
    """No module reaches itself through imports, late imports in functions included."""
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_or_stay_in_their_layer(module: str) -> None:
    """A module imports only modules of its own layer or of the layers below it."""
    upward = sorted(other for other in GRAPH[module] if layer_of(other) > layer_of(module))
    assert upward == [], f"{module} ({LAYERS[layer_of(module)][0]}) imports a higher layer"


def test_nothing_inside_the_package_imports_the_lazy_facade() -> None:
    """Inside the package, names come from their modules, never from ``flext_logging``."""
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == TOP and not node.level:
                lazy = [a.name for a in node.names if f"{TOP}.{a.name}" not in MODULES]
                offenders.extend(f"{module}: {name}" for name in lazy)
    assert offenders == []


def test_the_checker_sees_late_and_relative_imports() -> None:
    """Imports inside functions and relative ones count; TYPE_CHECKING ones do not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from flext_logging.stdlib import FlextHandler\n"
        "def f():\n"
        "    from flext_logging.logger import get_logger\n"
        "    from .._config import configure\n"
        "    return get_logger, configure\n"
    )
    found = imports_in(source, "flext_logging.context.state")
    assert found == {"flext_logging.logger", "flext_logging._config"}
    assert all(layer_of(name) > layer_of("flext_logging.context.state") for name in found)


def test_the_checker_finds_a_cycle() -> None:
    """A two-module loop is reported (the cycle test can fail)."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
