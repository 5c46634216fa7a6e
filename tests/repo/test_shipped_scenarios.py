"""Every shipped scenario and every documented example answers with a valid reply.

Each scenario is forced (``Prefer: scenario=NAME``) once per reply it can give, over a
request that offers every tool the examples name; a success must validate against the
generated ChatResponse schema, an error must carry both envelopes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from mockllm.config import Settings
from mockllm.http.context import STATE
from mockllm.resources import data_dir
from mockllm.scenario_engine.loader import load_scenarios
from mockllm.schemaset import SchemaSet
from mockllm.state import run_now
from mockllm.validation import ResponseValidator

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def _tool(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"the {name} tool",
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": "book 2 tickets to Paris; what is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C and sunny"},
        {"role": "user", "content": "order 42 please"},
    ],
    "tools": [
        _tool(
            "get_weather",
            {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        ),
        _tool("get_time", {"zone": {"type": "string"}}),
        _tool(
            "book",
            {
                "city": {"type": "string"},
                "seats": {"type": "integer"},
                "reference": {"type": "string"},
            },
        ),
        _tool("search", {"query": {"type": "string"}}),
    ],
    "seed": 5,
}


def _scenario_folder(tmp: Path) -> Path:
    for file in sorted(data_dir("scenarios").glob("*.yaml")):
        (tmp / f"shipped-{file.name}").write_text(file.read_text())
    examples = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    for index, example in enumerate(examples):
        (tmp / f"doc-{index:02d}.yaml").write_text(example)
    return tmp


def _cases() -> list[tuple[str, int]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        scenarios = load_scenarios([_scenario_folder(Path(tmp))])
    # Forcing a scenario advances its sequence, so N requests see all N replies.
    return [(s.name, position) for s in scenarios for position in range(len(s.replies))]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _scenario_folder(tmp_path_factory.mktemp("scenarios"))


@pytest.fixture(scope="module")
def validator() -> ResponseValidator:
    return ResponseValidator(SchemaSet.load())


async def test_every_scenario_reply_is_valid(
    make_app: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    folder: Path,
    validator: ResponseValidator,
) -> None:
    app = make_app(Settings(scenario_paths=(folder,)))
    client = await aiohttp_client(app)
    cases = _cases()
    assert len({name for name, _ in cases}) >= 25  # the shipped ones and the doc examples
    checked = 0
    for name, _position in cases:
        try:
            response = await client.post(
                "/v1/chat/completions", json=REQUEST, headers={"Prefer": f"scenario={name}"}
            )
            body = await response.json()
        except aiohttp.ServerDisconnectedError:
            # Only a scenario that scripts a fault may drop the connection.
            assert "fault" in run_now(app[STATE].store.exchanges())[-1].tags, name
            continue
        if response.status == 200:
            assert validator.validate(body) == [], name
            checked += 1
        else:
            assert {"responseStatus", "error"} <= set(body), name
            assert body["error"]["message"], name
    assert checked >= 20
