"""Run the shared client checks with whichever ``openai`` is first on the path (2.x here).

Usage: ``python openai_v2_probe.py BASE_URL CASE_JSON``. Prints one JSON object with the
SDK's version and file, then ``plain``, ``stream``, ``tool`` and ``error`` results, as
the Node scripts do; a check that raised reports ``{"unexpected": ...}`` instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import openai


def checks(client: openai.OpenAI, case: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The four checks, each returning plain data about what the SDK made of the reply."""
    ask = {"model": case["model"], "messages": case["messages"], "seed": case["seed"]}

    def plain() -> dict[str, Any]:
        reply = client.chat.completions.create(**ask)
        choice = reply.choices[0]
        return {
            "content": choice.message.content,
            "finish_reason": choice.finish_reason,
            "usage": reply.usage.model_dump() if reply.usage else None,
        }

    def stream() -> dict[str, Any]:
        deltas = 0
        with client.chat.completions.stream(
            **ask, stream_options={"include_usage": True}
        ) as events:
            for event in events:
                deltas += event.type == "content.delta"
            final = events.get_final_completion()
        choice = final.choices[0]
        return {
            "content": choice.message.content,
            "finish_reason": choice.finish_reason,
            "deltas": deltas,
            "usage": final.usage.model_dump() if final.usage else None,
        }

    def tool() -> dict[str, Any]:
        # strict: parse() then parses the arguments itself (parsed_arguments).
        tools = [{"type": "function", "function": {**case["tool"], "strict": True}}]
        reply = client.chat.completions.parse(**ask, tools=tools, tool_choice="required")
        call = reply.choices[0].message.tool_calls[0]
        return {
            "name": call.function.name,
            "args": call.function.parsed_arguments,
            "finish_reason": reply.choices[0].finish_reason,
        }

    def error() -> dict[str, Any]:
        try:
            client.chat.completions.create(**ask, temperature=3)
        except openai.APIStatusError as err:
            return {
                "raised": type(err).__name__,
                "status": err.status_code,
                "param": getattr(err, "param", None),
                "type": getattr(err, "type", None),
                "message": err.message,
            }
        return {"raised": None}

    return {"plain": plain, "stream": stream, "tool": tool, "error": error}


def main(base_url: str, case_json: str) -> None:
    """Run every check against ``base_url`` and print the report."""
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    report: dict[str, Any] = {"version": openai.__version__, "file": openai.__file__}
    for name, check in checks(client, json.loads(case_json)).items():
        try:
            report[name] = check()
        except Exception as err:  # reported, so one broken check does not hide the rest
            report[name] = {"unexpected": f"{type(err).__name__}: {err}"}
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:3])
