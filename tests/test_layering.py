"""The package's import graph: the library never reaches up into the CLI layer (or typer)."""

from __future__ import annotations

import ast
from pathlib import Path

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


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every name imported anywhere in ``source`` (function-level imports too), with its line.

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a submodule); relative
    imports are resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
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
