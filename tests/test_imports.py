"""The package's modules import one way: no cycle, and each one imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "nanogpt_images"
MODULES = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py")
)


def _imports(module: str) -> set[str]:
    """The package modules ``module`` imports when it loads (not under ``TYPE_CHECKING``)."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _load_time(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            if node.module:  # `from . import _x` names submodules, not the package
                found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def _load_time(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run at import: module level, into if/try, never ``if TYPE_CHECKING``."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                out += _load_time(node.body) + _load_time(node.orelse)
        elif isinstance(node, ast.Try):
            out += _load_time(node.body) + _load_time(node.orelse) + _load_time(node.finalbody)
            for handler in node.handlers:
                out += _load_time(handler.body)
        else:
            out.append(node)
    return out


def test_the_import_graph_has_no_cycle() -> None:
    """Every import arrow points one way (e.g. _models -> _validation, never back)."""
    graph = {module: _imports(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = " -> ".join([*path[path.index(module) :], module])
            pytest.fail(f"import cycle: {cycle}")
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])
    assert graph["nanogpt_images._models"] >= {"nanogpt_images._validation"}


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    """Importing any one module first works: nothing relies on an import order."""
    command = [sys.executable, "-c", f"import {module}"]  # module: one of our file names
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr
