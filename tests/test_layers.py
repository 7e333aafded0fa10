"""The package's shape: no import circles and no arrow back up, read from the source itself.

Every import counts, at any depth: module level and inside functions alike (an import inside a
function is still a dependency; it only runs later). The floors are DESIGN.md's, top down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bertpress"

# Top down: a module may import modules of its own floor or of floors below it.
FLOORS = [
    {"cli", "__main__"},
    {"api", "__init__"},
    {"optimize"},
    {"steps"},
    {"prune", "distill", "export", "train"},
    {"measure", "runtime", "card"},
    {"models"},
    # Below models: pure transforms of modules and graph files, which loading a quantized folder re-applies.
    {"quantize"},
    {"data"},
    {"errors", "outputs", "quiet", "reports", "formatting", "distributed", "memory"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def floor_of(name: str) -> int:
    top = name.split(".")[1] if "." in name else "__init__"
    return next(index for index, floor in enumerate(FLOORS) if top in floor)


def test_every_module_has_a_floor():
    for name in MODULES:
        floor_of(name)  # raises StopIteration for a top-level name missing from FLOORS


def test_no_import_circles():
    circles = []
    for start in GRAPH:
        reached, frontier = set(), list(GRAPH[start])
        while frontier:
            module = frontier.pop()
            if module not in reached:
                reached.add(module)
                frontier.extend(GRAPH[module])
        if start in reached:
            circles.append(start)
    assert not circles, f"modules that import themselves back: {sorted(circles)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_arrow_back_up(name):
    upward = sorted(module for module in GRAPH[name] if floor_of(module) < floor_of(name))
    assert not upward, f"{name} imports from a floor above it: {upward}"


def test_backend_names_are_spelled_in_one_module():
    from bertpress.runtime.backends import BACKENDS

    spelled = {name for name, path in MODULES.items() if any(backend in path.read_text() for backend in BACKENDS)}
    assert spelled == {"bertpress.runtime.backends"}
