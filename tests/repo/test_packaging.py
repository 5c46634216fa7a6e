"""The built wheel (``python -m build``, as the README's install says) carries schemas/,
scenarios/, the browser view and ``py.typed``, serves from any directory, and installed in a
user's own virtualenv gives typed imports, the redacted journal and the README's pytest
example passing as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "*.egg-info",
            "node_modules",
            "test-artifacts",
            "__pycache__",
            ".aimock",
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    wheel = next(out.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl"))
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    yield site


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_wheel_ships_the_data_folders(installed: Path) -> None:
    schemas = {p.name for p in (installed / "mockllm" / "schemas").iterdir()}
    assert {
        "ChatCompletion.schema.json",
        "ChatResponse.schema.json",
        "scenario.schema.json",
        "overlay.yaml",
        "chat-completion-api.md",
    } <= schemas
    assert any((installed / "mockllm" / "scenarios").glob("*.yaml"))
    # The browser view's page (GET /__mockllm/ui).
    ui = {p.name for p in (installed / "mockllm" / "http" / "ui").iterdir()}
    assert {"index.html", "ui.css", "ui.js"} <= ui
    assert (installed / "mockllm" / "py.typed").is_file()  # PEP 561: users' mypy reads it
    [info] = installed.glob("*.dist-info")
    assert (info / "licenses" / "LICENSE").is_file() or (info / "LICENSE").is_file()


def test_installed_package_serves_from_another_directory(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [sys.executable, "-c", "import mockllm, sys; print(mockllm.__file__)"],
        cwd=tmp_path,
        env=_env(installed),
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(installed))
    check = subprocess.run(
        [sys.executable, "-m", "mockllm", "schemas", "--check"],
        cwd=tmp_path,
        env=_env(installed),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr + check.stdout

    server = subprocess.Popen(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0"],
        cwd=tmp_path,
        env=_env(installed),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line.split("serving on ", 1)[1].split()[0]
        request = urllib.request.Request(
            url + "/v1/chat/completions",
            data=json.dumps(
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
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


def test_the_readme_installs_the_distribution_as_it_can_be_installed() -> None:
    # mockllm-server is not on PyPI: the README must not promise `pip install mockllm-server`
    # as the way in; it installs from a clone, a wheel, a git URL, pipx or uvx.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("<!-- install-command -->", 1)[1].split("<!-- /install-command -->")[0]
    assert "pip install /path/to/mockllm" in install
    section = readme[readme.index("## Install") :]
    section = section[: section.index("\n## ", 1)]
    assert "not published on PyPI" in section
    for way in ("python -m\n  build", "git+", "pipx install", "uvx --from"):
        assert way in section, way
    assert "pip install mockllm\n" not in readme and "pip install mockllm " not in readme
    plugin = (ROOT / "mockllm" / "pytest_plugin.py").read_text(encoding="utf-8")
    assert DISTRIBUTION in plugin.split('"""')[1]
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert f"\nname = {DISTRIBUTION}\n" in setup


USER_TEST = """
from openai import OpenAI


def test_keys_stay_out_of_the_journal(mockllm):
    client = OpenAI(base_url=mockllm.base_url, api_key="sk-user-project-key-1234567890")
    client.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hi"}])
    headers = {k.lower(): v for k, v in mockllm.last_request.headers.items()}
    assert headers["authorization"] == "Bearer ***7890"
"""

USER_TYPES = """
import mockllm
from mockllm import MockLLMServer, Settings

with MockLLMServer(Settings(port=0)) as server:
    url: str = server.base_url
version: str = mockllm.__version__
"""


def test_a_users_project_gets_types_the_redacted_journal_and_the_readme_example(
    installed: Path, tmp_path: Path
) -> None:
    [wheel] = installed.parent.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    # The dependencies (aiohttp, openai, pytest...) come from this run's environment, added
    # after the venv's own packages: mockllm itself is the wheel's.
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")}
    where = subprocess.run(
        [str(python), "-c", "import mockllm; print(mockllm.__file__)"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(purelib))

    (project / "check_types.py").write_text(USER_TYPES)
    typed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-executable",
            str(python),
            "--cache-dir",
            str(tmp_path / "mypy"),
            "check_types.py",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"<!-- example: pytest -->\s*```python\n(.*?)```", readme, re.S)
    assert example is not None
    (project / "test_readme_example.py").write_text(example.group(1))
    (project / "test_keys.py").write_text(USER_TEST)
    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
