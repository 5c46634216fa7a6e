"""The openai Python SDK 2.x against a real running mockllm.

2.x cannot share the venv with the 3.x SDK the other tests use, so it is installed
once per session with ``pip install --target`` into a temp folder and driven in a
subprocess that puts that folder first on ``PYTHONPATH`` (openai_v2_probe.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from client_checks import (
    CASE,
    assert_names_temperature,
    assert_text_reply,
    assert_tool_arguments,
    install_once,
    reported,
)

from mockllm.server import MockLLMServer

REQUIREMENT = "openai>=2,<3"
PROBE = Path(__file__).with_name("openai_v2_probe.py")


@pytest.fixture(scope="session")
def openai2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the openai SDK 2.x and its dependencies, installed once."""

    def pip_install(folder: Path) -> None:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--target",
                str(folder),
                "--upgrade",
                REQUIREMENT,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"pip could not install {REQUIREMENT}:\n{done.stderr}"

    return install_once(tmp_path_factory, "openai2", REQUIREMENT, pip_install)


@pytest.fixture(scope="module")
def report(openai2_dir: Path, live_server: MockLLMServer) -> dict[str, Any]:
    """The probe's checks run once under openai 2.x against the live server."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(openai2_dir), os.environ.get("PYTHONPATH")])
        ),
    }
    done = subprocess.run(
        [sys.executable, str(PROBE), live_server.base_url, json.dumps(CASE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"the openai 2.x probe failed:\n{done.stderr}"
    return json.loads(done.stdout)


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return reported(report, name, "openai 2.x")


def test_the_probe_really_runs_openai_2(report: dict[str, Any], openai2_dir: Path) -> None:
    assert report["version"].startswith("2."), report["version"]
    assert Path(report["file"]).is_relative_to(openai2_dir), report["file"]


def test_plain_completion(report: dict[str, Any]) -> None:
    plain = _check(report, "plain")
    assert_text_reply(plain["content"])
    assert plain["finish_reason"] == "stop"
    usage = plain["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_accumulates_to_the_plain_reply(report: dict[str, Any]) -> None:
    stream, plain = _check(report, "stream"), _check(report, "plain")
    assert stream["content"] == plain["content"]
    assert stream["deltas"] > 1
    assert stream["finish_reason"] == "stop"
    assert stream["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]


def test_tool_call_arguments_are_parsed(report: dict[str, Any]) -> None:
    tool = _check(report, "tool")
    assert tool["name"] == CASE["tool"]["name"]
    assert_tool_arguments(tool["args"])
    assert tool["finish_reason"] == "tool_calls"


def test_bad_request_is_the_client_error_naming_the_field(report: dict[str, Any]) -> None:
    error = _check(report, "error")
    assert error["raised"] == "BadRequestError"
    assert error["status"] == 400
    assert error["param"] == "temperature"
    assert error["type"] == "invalid_request_error"
    assert_names_temperature(error["message"])
