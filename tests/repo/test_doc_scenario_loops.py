"""Every scenario example of the README and docs/ that makes a tool call is run as an agent
runs it: two turns through the openai SDK, a call and then, with the tool's result sent back,
an answer. (The README's headline scenario called the tool again after its result, for ever.)

Each such example carries a ``# loop:`` comment saying what the first turn sends (``ask``,
and where its conditions need them ``tools``, ``tool_choice``, ``system``, ``model``,
``header``); the comment is documentation too: what makes the scenario answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from mockllm.config import Settings
from mockllm.scenario_engine.loader import load_scenario_data
from mockllm.server import MockLLMServer

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _calls_a_tool(node: Any) -> bool:
    if isinstance(node, dict):
        return "tool_calls" in node or any(_calls_a_tool(v) for v in node.values())
    if isinstance(node, list):
        return any(_calls_a_tool(v) for v in node)
    return False


def _tool_examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for number, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, re.S)):
            try:
                data = yaml.safe_load(block)
                load_scenario_data(block, f"{page.name} example {number}")
            except Exception:  # a fragment (docs/design.md's reply spec), not a scenario file
                continue
            scenarios = data.get("scenarios", data) if isinstance(data, dict) else data
            if _calls_a_tool(scenarios):
                found.append((f"{page.relative_to(ROOT)}#{number}", block))
    return found


EXAMPLES = _tool_examples()


def test_the_docs_have_tool_call_examples() -> None:
    pages = {name.split("#")[0] for name, _ in EXAMPLES}
    assert {"README.md", "docs/scenarios.md", "docs/recording.md"} <= pages


def _tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }


@pytest.mark.parametrize(("name", "block"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_a_tool_call_example_ends_in_an_answer(name: str, block: str, tmp_path: Path) -> None:
    hint_line = re.search(r"^# loop: (.*)$", block, re.M)
    assert hint_line, f"{name}: a tool-call example needs a `# loop: {{ask: ...}}` comment"
    hint = yaml.safe_load(hint_line.group(1))
    file = tmp_path / "example.yaml"
    file.write_text(block, encoding="utf-8")
    messages: list[dict[str, Any]] = []
    if "system" in hint:
        messages.append({"role": "system", "content": hint["system"]})
    messages.append({"role": "user", "content": hint["ask"]})
    tools = [_tool(t) for t in hint.get("tools", ["get_weather"])]
    extra: dict[str, Any] = {}
    if "tool_choice" in hint:
        extra["tool_choice"] = {"type": "function", "function": {"name": hint["tool_choice"]}}
    headers = hint.get("header") or {}
    model = hint.get("model", "gpt-4o-mini")
    with MockLLMServer(Settings(port=0, seed=1, scenario_paths=(file,))) as server:
        client = openai.OpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, default_headers=headers
        )
        first = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            tools=tools,
            **extra,
        )  # type: ignore[arg-type]
        calls = first.choices[0].message.tool_calls
        assert calls, f"{name}: the first turn did not call a tool"
        messages.append(first.choices[0].message.model_dump(exclude_none=True))
        messages.extend(
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": json.dumps({"temperature": "21 C"}),
            }
            for call in calls
        )
        # The agent's second turn: the same tools, the results, no forced choice.
        second = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            tools=tools,
        )  # type: ignore[arg-type]
    answer = second.choices[0]
    assert not answer.message.tool_calls, f"{name}: the tool is called again: an endless loop"
    assert answer.finish_reason == "stop" and answer.message.content
