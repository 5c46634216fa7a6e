"""A tiny weather assistant: the kind of application mockllm is made to test.

It asks a chat model, runs the ``get_weather`` tool whenever the model calls it,
sends the result back, and returns the model's final answer. Nothing here knows
about mockllm: the tests point the openai client's ``base_url`` at the mock.
"""

from __future__ import annotations

import json
from typing import Any

from openai import OpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall

__all__ = ["SYSTEM_PROMPT", "TOOLS", "WeatherAssistant", "get_weather"]

SYSTEM_PROMPT = "You are a weather assistant. Use get_weather for any forecast."

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Today's forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]

# A stand-in weather service: the app's own code, not the part under test here.
_FORECASTS = {"paris": ("sunny", 24), "oslo": ("snow", -3)}


def get_weather(city: str) -> dict[str, Any]:
    """The forecast for ``city`` (unknown cities: cloudy, 15 °C)."""
    sky, celsius = _FORECASTS.get(city.lower(), ("cloudy", 15))
    return {"city": city, "sky": sky, "celsius": celsius}


class WeatherAssistant:
    """Answers weather questions with a chat model and the ``get_weather`` tool."""

    def __init__(self, client: OpenAI, model: str = "gpt-4o-mini", max_rounds: int = 4) -> None:
        self.client = client
        self.model = model
        self.max_rounds = max_rounds

    def ask(self, question: str) -> str:
        """The model's final answer to ``question``, after any tool calls it makes."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]
        for _ in range(self.max_rounds):
            completion = self.client.chat.completions.create(
                model=self.model, messages=messages, tools=TOOLS
            )  # type: ignore[arg-type]
            message = completion.choices[0].message
            calls = [
                c
                for c in message.tool_calls or ()
                if isinstance(c, ChatCompletionMessageFunctionToolCall)
            ]
            if not calls:
                return message.content or ""
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.function.name,
                                "arguments": call.function.arguments,
                            },
                        }
                        for call in calls
                    ],
                }
            )
            for call in calls:
                result = get_weather(**json.loads(call.function.arguments))
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise RuntimeError(f"no answer after {self.max_rounds} rounds of tool calls")
