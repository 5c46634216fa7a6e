"""The OpenAI Agents SDK (openai-agents) against a real running mockllm: a ``Runner``
with a function tool completes a two-turn loop over the Responses API, plain and
streamed, from one scenario per turn (tracing export off)."""

from __future__ import annotations

from typing import Any

import pytest

from mockllm import MockLLM

agents = pytest.importorskip("agents")

SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "ask-tool",
        "when": {"last_role": "user", "tools": "get_weather"},
        "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    },
    {
        "name": "answer",
        "when": {"tool_result": {"name": "get_weather", "contains": "Sunny"}},
        "reply": {"content": "It is sunny in Paris."},
    },
]


def _agent(mockllm: MockLLM, calls: list[str]) -> Any:
    from agents import Agent, OpenAIResponsesModel, function_tool
    from openai import AsyncOpenAI

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"Sunny in {city}"

    client = AsyncOpenAI(base_url=mockllm.base_url, api_key="sk-test", max_retries=0)
    return Agent(
        name="weather",
        instructions="Be brief.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="gpt-4o", openai_client=client),
    )


@pytest.fixture(autouse=True)
def _no_tracing() -> None:
    agents.set_tracing_disabled(True)


async def test_a_runner_completes_a_two_turn_tool_loop(mockllm_aio: MockLLM) -> None:
    mockllm_aio.add(SCENARIOS)
    calls: list[str] = []
    result = await agents.Runner.run(_agent(mockllm_aio, calls), "weather in Paris?")
    assert result.final_output == "It is sunny in Paris."
    assert calls == ["Paris"]
    assert [e.scenario for e in mockllm_aio.requests] == ["ask-tool", "answer"]
    assert {e.surface for e in mockllm_aio.requests} == {"responses"}


async def test_a_streamed_run_completes_the_same_loop(mockllm_aio: MockLLM) -> None:
    mockllm_aio.add(SCENARIOS)
    calls: list[str] = []
    result = agents.Runner.run_streamed(_agent(mockllm_aio, calls), "weather in Paris?")
    async for _ in result.stream_events():
        pass
    assert result.final_output == "It is sunny in Paris."
    assert calls == ["Paris"]
