"""The weather assistant's tests, written the way a mockllm user writes them.

The ``mockllm`` fixture comes from mockllm's pytest plugin (installed with the
package); the app talks to it through the real openai SDK.
"""

from __future__ import annotations

import json
import time

import pytest
from openai import AsyncOpenAI, OpenAI
from weather_app import SYSTEM_PROMPT, TOOLS, WeatherAssistant

from mockllm import MockLLM


@pytest.fixture()
def assistant(mockllm: MockLLM) -> WeatherAssistant:
    return WeatherAssistant(OpenAI(base_url=mockllm.base_url, api_key="sk-test"))


def test_scripted_reply(mockllm: MockLLM, assistant: WeatherAssistant) -> None:
    mockllm.add(
        {
            "name": "greeting",
            "when": {"last_user_message": {"contains": "hello"}},
            "reply": {"content": "Hi! Ask me about the weather anywhere."},
        }
    )

    assert assistant.ask("hello there") == "Hi! Ask me about the weather anywhere."

    mockllm.assert_called("greeting", times=1)
    request = mockllm.last_request.body
    assert request["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert [t["function"]["name"] for t in request["tools"]] == ["get_weather"]


@pytest.mark.mockllm(scenarios="weather_scenarios.yaml", strict=True)
@pytest.mark.parametrize(
    ("city", "answer"),
    [("Paris", "It is sunny in Paris, 24 °C."), ("Oslo", "It is snow in Oslo, -3 °C.")],
)
def test_tool_call_loop(
    mockllm: MockLLM, assistant: WeatherAssistant, city: str, answer: str
) -> None:
    assert assistant.ask(f"What is the weather in {city} today?") == answer

    call, result = mockllm.requests
    assert call.scenario == "weather-tool-call"
    assert result.scenario == "weather-answer"
    # The app sent back the id of the call the model made, with the tool's output.
    tool_call = call.response["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(tool_call["function"]["arguments"]) == {"city": city}
    tool_message = result.body["messages"][-1]
    assert tool_message["tool_call_id"] == tool_call["id"]
    assert json.loads(tool_message["content"])["city"] == city


def test_rate_limit_is_retried(mockllm: MockLLM) -> None:
    mockllm.add_yaml("""
        name: busy-then-fine
        sequence:
          - error:
              status: 429
              message: Rate limit reached for gpt-4o-mini
              headers: {Retry-After: "1", retry-after-ms: "50"}
          - content: Sorry for the wait. Sunny all week.
    """)
    client = OpenAI(base_url=mockllm.base_url, api_key="sk-test", max_retries=2)

    started = time.monotonic()
    assert WeatherAssistant(client).ask("Will it rain?") == "Sorry for the wait. Sunny all week."

    assert [r.status for r in mockllm.requests] == [429, 200]
    assert time.monotonic() - started < 1.0  # the SDK honoured retry-after-ms
    mockllm.assert_called("busy-then-fine", times=2)
    assert mockllm.requests_where(status=429)[0].error == "Rate limit reached for gpt-4o-mini"


def test_the_app_gives_up_after_too_many_tool_calls(
    mockllm: MockLLM, assistant: WeatherAssistant
) -> None:
    mockllm.add({"name": "always-a-tool", "reply": {"tool_calls": "auto"}})

    with pytest.raises(RuntimeError, match="4 rounds"):
        assistant.ask("weather?")

    calls = mockllm.assert_called("always-a-tool", times=4)
    assert all(r.valid for r in calls)


async def test_async_client_against_the_in_loop_server(mockllm_aio: MockLLM) -> None:
    mockllm_aio.add({"name": "brief", "reply": {"content": "Cloudy."}})
    client = AsyncOpenAI(base_url=mockllm_aio.base_url, api_key="sk-test")

    completion = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Forecast?"}], tools=TOOLS
    )  # type: ignore[arg-type]

    assert completion.choices[0].message.content == "Cloudy."
    mockllm_aio.assert_called("brief", times=1, model="gpt-4o")
