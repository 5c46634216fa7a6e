"""The README's commands and examples stay true."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mockllm.server import MockLLMServer

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README has no block after <!-- {marker} -->"
    return match.group(1)


def _point_at(code: str, server: MockLLMServer) -> str:
    return code.replace("http://127.0.0.1:8000", server.url)


def test_readme_has_exactly_the_two_commands_near_the_top() -> None:
    text = README.read_text()
    top = text[: text.index("## ")]
    commands = re.findall(r"^python3 .*$", top, re.M)
    assert len(commands) == 2
    assert commands[0].endswith("mockllm serve")
    assert "pytest" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "test-command" in ci  # CI reads the test command from the README


def test_readme_openai_example_runs(live_server: MockLLMServer) -> None:
    code = _point_at(_block("example: openai"), live_server)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) >= 3


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_example_runs(live_server: MockLLMServer) -> None:
    code = _point_at(_block("example: curl"), live_server)
    result = subprocess.run(["sh", "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"]
