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

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mockllm"
MODULE_FILES = sorted(PACKAGE.rglob("*.py"))
# Runs the CLI when imported, so it has nothing to export and is not imported here.
SCRIPTS = frozenset({"__main__"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_ruff_reports_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "mockllm", "tests", "bench", cwd=ROOT)
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"


def test_the_tree_is_formatted_by_ruff() -> None:
    # One format for every file (ruff format, ruff.toml's line length): run `ruff format .`.
    result = _run("ruff", "format", "--check", "--no-cache", ".", cwd=ROOT)
    assert result.returncode == 0, f"ruff format would change:\n{result.stdout}{result.stderr}"


def test_mypy_reports_nothing(tmp_path: Path) -> None:
    # A fresh cache per run: a stale one can hide errors (and none is left in the checkout).
    result = _run(
        "mypy",
        "--config-file",
        "setup.cfg",
        "--cache-dir",
        str(tmp_path / "mypy"),
        "mockllm",
        cwd=ROOT,
    )
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=_module_name)
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


def test_package_exports_exactly_its_lazy_names() -> None:
    # mockllm/__init__.py loads each public name on first use; both lists must agree and
    # every name must resolve to the object its module defines.
    lazy = dict(vars(mockllm)["_EXPORTS"])
    assert sorted(lazy) == sorted(mockllm.__all__)
    for name, module in lazy.items():
        value = getattr(mockllm, name)
        assert value is getattr(importlib.import_module(f"mockllm.{module}"), name), name


def test_design_notes_name_every_module() -> None:
    """docs/design.md's module table is the map of the pipeline: keep it complete."""
    root = Path(__file__).resolve().parents[2]
    design = (root / "docs" / "design.md").read_text()
    modules = sorted(
        str(p.relative_to(root / "mockllm"))
        for p in (root / "mockllm").rglob("*.py")
        if not p.name.startswith("__")
    )
    assert [m for m in modules if f"`{m}`" not in design] == []


# ------------------------------------------------------------------ architecture


def _imports(path: Path, *, module_level: bool) -> set[str]:
    """The mockllm modules (and third-party top-level names) ``path`` imports. With
    ``module_level``, only imports that run at import time (not in functions, not under
    ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.stem == "__init__" else here.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if not module_level:
                    visit(node.body)
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not module_level or isinstance(node, ast.ClassDef):
                    visit(node.body)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and not isinstance(node, ast.ClassDef):
                    visit(
                        [n for n in inner if isinstance(n, ast.stmt)]
                        + [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body]
                    )

    visit(tree.body)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    modules = {_module_name(p): p for p in MODULE_FILES}
    graph = {
        name: {
            m
            for m in _imports(path, module_level=True)
            if m in modules and m != name and not name.startswith(m + ".")
        }
        for name, path in modules.items()
    }
    # Importing a subpackage module imports its package first: an edge to the package.
    for name in list(graph):
        graph[name] = {m for m in graph[name] if m != "mockllm"}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                walk(nxt)
        stack.pop()
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            walk(module)


def test_only_the_http_package_imports_aiohttp() -> None:
    offenders = sorted(
        _module_name(path)
        for path in MODULE_FILES
        if not _module_name(path).startswith("mockllm.http")
        and any(
            m == "aiohttp" or m.startswith("aiohttp.") for m in _imports(path, module_level=False)
        )
    )
    assert offenders == []


def test_no_module_keeps_mutable_state_at_module_level() -> None:
    mutable_calls = {
        "dict",
        "list",
        "set",
        "deque",
        "defaultdict",
        "OrderedDict",
        "Random",
        "count",
        "Lock",
        "Event",
    }
    found = []
    for path in MODULE_FILES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names == ["__all__"]:
                continue
            value = node.value
            call = value.func if isinstance(value, ast.Call) else None
            called = (
                call.attr
                if isinstance(call, ast.Attribute)
                else call.id
                if isinstance(call, ast.Name)
                else None
            )
            if (
                isinstance(
                    value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
                )
                or called in mutable_calls
            ):
                found.append(f"{_module_name(path)}.{', '.join(names)}")
    assert found == []


def _documented_names() -> str:
    return "\n".join(
        (ROOT / p).read_text(encoding="utf-8")
        for p in ("README.md", "docs/design.md", "docs/scenarios.md")
    )


@pytest.mark.parametrize("name", mockllm.__all__)
def test_every_public_name_is_documented(name: str) -> None:
    assert f"`{name}`" in _documented_names(), f"{name} is exported but documented nowhere"


def test_the_examples_use_only_public_names() -> None:
    for path in sorted((ROOT / "tests" / "examples").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mockllm"):
                assert node.module == "mockllm", f"{path.name} imports {node.module}"
                assert all(a.name in mockllm.__all__ for a in node.names), path.name


def test_every_error_class_lives_in_the_errors_module() -> None:
    import mockllm.errors as errors

    known = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    elsewhere = []
    for path in MODULE_FILES:
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).split(".")[-1]
                in known | {"Exception", "BaseException", "ValueError", "AssertionError"}
                for base in node.bases
            ):
                elsewhere.append(f"{_module_name(path)}.{node.name}")
    assert elsewhere == []
    # One tree: every error mockllm defines descends from the one root.
    assert sorted(n for n in known if not issubclass(getattr(errors, n), errors.MockLLMError)) == []


def test_the_test_extra_pins_the_checkers() -> None:
    """A fresh install must stay green whatever a new release of a checker reports: ruff,
    mypy and the stubs mypy reads are pinned with ``==`` (a bump is taken on purpose)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = [
        line.split("#")[0].strip() for line in config["options.extras_require"]["test"].splitlines()
    ]
    checkers = [
        line
        for line in lines
        if line.split("=")[0].split(">")[0].split("<")[0].strip() in ("ruff", "mypy")
        or line.startswith("types-")
    ]
    assert {c.split("=")[0] for c in checkers} >= {"ruff", "mypy", "types-PyYAML"}
    assert all(
        "==" in c and not any(op in c for op in (">", "<", "~", "!", ",")) for c in checkers
    ), checkers
