"""mockllm stays lint- and type-clean, and every module documents itself and its public names.

ruff and mypy run as the project configures them (ruff.toml, setup.cfg's ``[mypy]``), so a
change that breaks either fails here with the tool's own report.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mockllm

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mockllm"
MODULE_FILES = sorted(PACKAGE.glob("*.py"))
# Runs the CLI when imported, so it has nothing to export and is not imported here.
SCRIPTS = frozenset({"__main__"})


def _module_name(path: Path) -> str:
    return "mockllm" if path.stem == "__init__" else f"mockllm.{path.stem}"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_ruff_reports_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "mockllm", "tests", "bench", cwd=ROOT)
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"


def test_mypy_reports_nothing(tmp_path: Path) -> None:
    # A fresh cache per run: a stale one can hide errors (and none is left in the checkout).
    result = _run(
        "mypy", "--config-file", "setup.cfg", "--cache-dir", str(tmp_path / "mypy"), "mockllm",
        cwd=ROOT,
    )
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: p.stem)
def test_every_module_has_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert (ast.get_docstring(tree) or "").strip(), f"{path.name} has no module docstring"


@pytest.mark.parametrize(
    "name",
    [_module_name(p) for p in MODULE_FILES if p.stem not in SCRIPTS],
)
def test_every_module_exports_a_sorted_list_of_real_names(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    assert "__all__" in vars(module), f"{name} defines no __all__"
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted: {exported}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name: {exported}"
    missing = [export for export in exported if not hasattr(module, export)]
    assert not missing, f"{name}.__all__ names what the module does not define: {missing}"


def test_package_exports_exactly_what_it_imports() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    exported = set(mockllm.__all__)
    assert exported == imported, (
        f"imported but not exported: {sorted(imported - exported)}; "
        f"exported but not imported: {sorted(exported - imported)}"
    )


def test_design_notes_name_every_module() -> None:
    """docs/design.md's module table is the map of the pipeline: keep it complete."""
    root = Path(__file__).resolve().parent.parent
    design = (root / "docs" / "design.md").read_text()
    modules = sorted(p.name for p in (root / "mockllm").glob("*.py")
                     if not p.name.startswith("__"))
    assert [m for m in modules if f"`{m}`" not in design] == []
