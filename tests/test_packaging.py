"""The built wheel carries schemas/, scenarios/ and the browser view, and serves from any
directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The name on PyPI: "mockllm" there is another project's.
DISTRIBUTION = "mockllm-server"
# One worker builds the wheel, once a run.
pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel of this checkout, unpacked into a folder used as the only mockllm."""
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: a build in the checkout itself shares its build/ and egg-info
    # folders with anything else running there, and other tests write files beside it.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "node_modules", "test-artifacts",
        "__pycache__", ".aimock"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(source)], check=True, timeout=300)
    wheel = next(out.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl"))
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    yield site


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_wheel_ships_the_data_folders(installed: Path) -> None:
    schemas = {p.name for p in (installed / "mockllm" / "schemas").iterdir()}
    assert {"ChatCompletion.schema.json", "ChatResponse.schema.json", "scenario.schema.json",
            "overlay.yaml", "chat-completion-api.md"} <= schemas
    assert any((installed / "mockllm" / "scenarios").glob("*.yaml"))
    # The browser view's page (GET /__mockllm/ui).
    ui = {p.name for p in (installed / "mockllm" / "http" / "ui").iterdir()}
    assert {"index.html", "ui.css", "ui.js"} <= ui


def test_installed_package_serves_from_another_directory(installed: Path,
                                                         tmp_path: Path) -> None:
    where = subprocess.run(
        [sys.executable, "-c", "import mockllm, sys; print(mockllm.__file__)"],
        cwd=tmp_path, env=_env(installed), capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(installed))
    check = subprocess.run([sys.executable, "-m", "mockllm", "schemas", "--check"],
                           cwd=tmp_path, env=_env(installed), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout

    server = subprocess.Popen([sys.executable, "-m", "mockllm", "serve", "--port", "0"],
                              cwd=tmp_path, env=_env(installed), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line.split("serving on ", 1)[1].split()[0]
        request = urllib.request.Request(
            url + "/v1/chat/completions",
            data=json.dumps({"model": "gpt-4o", "messages": [
                {"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        assert reply["choices"][0]["message"]["content"]
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def test_the_distribution_is_mockllm_server_with_the_mockllm_command(installed: Path) -> None:
    [info] = installed.glob("*.dist-info")
    metadata = (info / "METADATA").read_text(encoding="utf-8")
    assert f"Name: {DISTRIBUTION}\n" in metadata
    entry_points = (info / "entry_points.txt").read_text(encoding="utf-8")
    assert "mockllm = mockllm.cli:main" in entry_points  # the command keeps its name
    assert "mockllm = mockllm.pytest_plugin" in entry_points  # so does the plugin
    assert (installed / "mockllm" / "__init__.py").is_file()  # and the import name


def test_the_readme_and_plugin_docs_install_the_distribution() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("<!-- install-command -->", 1)[1].split("<!-- /install-command -->")[0]
    assert f"pip install {DISTRIBUTION}\n" in install
    assert "pip install mockllm\n" not in readme and "pip install mockllm " not in readme
    plugin = (ROOT / "mockllm" / "pytest_plugin.py").read_text(encoding="utf-8")
    assert DISTRIBUTION in plugin.split('"""')[1]
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert f"\nname = {DISTRIBUTION}\n" in setup
