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

README = Path(__file__).resolve().parents[2] / "README.md"


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
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
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


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_contents_list_every_section_in_order() -> None:
    text = README.read_text()
    headings = [h for h in re.findall(r"^## (.+)$", text, re.M) if h != "Contents"]
    contents = text[text.index("## Contents") :]
    contents = contents[: contents.index("\n## ", 1)]
    listed = re.findall(r"^- \[(.+?)\]\(#([\w-]+)\)$", contents, re.M)
    assert [title for title, _ in listed] == headings
    assert all(anchor == _slug(title) for title, anchor in listed), listed


def test_the_readme_is_for_users_and_measurements_live_in_docs() -> None:
    text = README.read_text()
    first_screen = text[: text.index("## Contents")]
    # What it is for, the two commands, a short pytest example and the browser view.
    assert "<!-- example: pytest -->" in first_screen and "docs/ui.png" in first_screen
    example = re.search(r"<!-- example: pytest -->\s*```python\n(.*?)```", first_screen, re.S)
    assert example is not None and len(example.group(1).strip().splitlines()) <= 12
    assert "| case | req/s" not in text and "## Performance" not in text
    performance = (README.parent / "docs" / "performance.md").read_text()
    assert "| case | req/s" in performance and "## Start-up and memory" in performance
    assert (README.parent / "CONTRIBUTING.md").is_file()


def _commands(text: str) -> list[str]:
    """Every ``mockllm ...`` command with arguments the page shows, inline or in a shell
    block (a synopsis's ``[optional]`` parts left out)."""
    found = re.findall(r"`(mockllm (?:serve|record|check|conform|schemas) [^`]*)`", text)
    for block in re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            line = re.split(r"\s+#|&&|\|", line)[0].strip()
            if line.startswith("mockllm "):
                found.append(line)
    return [re.sub(r"\s*\[[^\]]*\](\.\.\.)?", "", c) for c in found]


@pytest.mark.parametrize(
    "page",
    ["README.md", "CONTRIBUTING.md", "docs/scenarios.md", "docs/recording.md", "docs/conform.md"],
)
def test_every_mockllm_command_in_the_docs_parses(page: str) -> None:
    # docs/scenarios.md said `mockllm serve scenarios/`, which serve refuses.
    import shlex

    from mockllm.cli import _parser

    text = (README.parent / page).read_text(encoding="utf-8")
    for command in _commands(text):
        words = shlex.split(command.replace("…", "").replace("...", ""))[1:]
        try:
            _parser(words).parse_args(words)
        except SystemExit as exc:
            assert exc.code == 0, f"{page}: `{command}` is not a command mockllm takes"
