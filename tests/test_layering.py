"""The package's import graph: the library never reaches up into the CLI layer (or typer)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import h1fault

PACKAGE = Path(h1fault.__file__).parent
FORBIDDEN = ("typer", "click")
"""Third-party CLI frameworks only the CLI layer may use."""


def module_name(path: Path) -> str:
    """``h1fault/data/collect.py`` -> ``h1fault.data.collect``; a package's ``__init__`` -> it."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_cli(module: str) -> bool:
    """The CLI layer: ``h1fault/cli*.py`` and the ``python -m h1fault`` entry point."""
    return module.startswith("h1fault.cli") or module == "h1fault.__main__"


def _walk_runtime(tree: ast.AST):
    """ast.walk, minus ``if TYPE_CHECKING:`` blocks (type-only imports never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every name imported anywhere in ``source`` (function-level imports too), with its line.

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a submodule); relative
    imports are resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in _walk_runtime(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def package_modules() -> dict[str, tuple[Path, str]]:
    """Module name -> (path, source) for every module of the installed-or-checked-out package."""
    return {
        module_name(p): (p, p.read_text())
        for p in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def test_walker_sees_function_level_and_relative_imports() -> None:
    src = "import os\n\ndef f():\n    from ..cli_common import fail\n    import typer.main\n"
    names = {name for name, _ in imports_of(src, "h1fault.data.collect")}
    assert {"h1fault.cli_common", "h1fault.cli_common.fail", "typer.main", "os"} <= names
    names = {name for name, _ in imports_of("from . import eval\n", "h1fault.disc", True)}
    assert "h1fault.disc.eval" in names


def test_library_never_imports_the_cli_layer() -> None:
    offenders = []
    for module, (path, source) in package_modules().items():
        if is_cli(module):
            continue
        for name, line in imports_of(source, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            if top in FORBIDDEN or (top == "h1fault" and is_cli(name)):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert not offenders, "the library imports the CLI layer:\n" + "\n".join(offenders)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at any level of the file (function-level
    imports too: they dodge a cycle at import time but not in the design).

    ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``. A
    submodule's implicit import of its parent package is not an edge.
    """
    modules = package_modules()
    graph: dict[str, set[str]] = {}
    for module, (path, source) in modules.items():
        edges = set()
        for name, _ in imports_of(source, module, path.name == "__init__.py"):
            while name and name not in modules:  # a.b.c (a name in a.b) -> a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_function_level_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    # the old disc/eval <-> disc/calibrate shape: a function-level import closing the loop
    src_eval = "from h1fault.disc.calibrate import RuleScorer\n"
    src_cal = "def calibrate():\n    from h1fault.disc.eval import stream_split\n"
    edges = {
        m: {n.rpartition(".")[0] for n, _ in imports_of(src, m)}
        for m, src in (("h1fault.disc.eval", src_eval), ("h1fault.disc.calibrate", src_cal))
    }
    assert find_cycle(edges) is not None


def test_no_import_cycles_inside_the_package() -> None:
    graph = import_graph()
    assert "h1fault.disc.calibrate" in graph["h1fault.disc.eval"]  # the walker sees real edges
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        # dataset build/check/import tools start fast: torch is not needed for them
        ("h1fault.data.build h1fault.data.stats h1fault.data.legacy_import h1fault.data.writer",
         "torch"),
        # the env contract is importable by other simulators' adapters without MuJoCo
        ("h1fault.sim.contract h1fault.console", "mujoco"),
    ],
)  # fmt: skip
def test_light_modules_stay_light(modules: str, absent: str) -> None:
    code = f"import sys\nimport {', '.join(modules.split())}\nprint({absent!r} in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"importing {modules} loads {absent}"
