"""A Messages body -> the neutral request view the scenario conditions and the reply
engine read (the chat completions' spelling, :mod:`mockllm.surfaces`).

What each field becomes:

=========================================  ============================================
Messages                                   neutral view
=========================================  ============================================
``system`` (a string or text blocks)       a first ``system`` message
``messages[].content`` text blocks         text parts (a string stays a string)
``image`` / ``document`` blocks            ``image_url`` / ``file`` parts
assistant ``tool_use`` blocks              ``tool_calls`` (``input`` as JSON arguments)
user ``tool_result`` blocks                ``tool`` messages before the turn's other
                                           content (``is_error`` kept)
``role: system`` messages                  ``system`` messages where they stand
``thinking`` / ``redacted_thinking``       left out (earlier thinking is not prompt)
``tools`` (custom)                         ``function`` tools (``input_schema`` ->
                                           ``parameters``); server tools by type and name
``tool_choice`` auto/any/tool/none         ``auto`` / ``required`` / the named function /
                                           ``none``; ``disable_parallel_tool_use`` ->
                                           ``parallel_tool_calls: false``
``max_tokens``                             ``max_completion_tokens``
``thinking`` enabled (by ``budget_tokens``)  ``reasoning_effort`` low (< 4,096), medium
  / adaptive (by ``output_config.effort``)   (< 16,384), high
``output_config.format`` json_schema       ``response_format`` json_schema
``metadata.user_id``                       ``user``
=========================================  ============================================

``stop_sequences`` are not handed on: the reply applies them itself, as Anthropic
reports which one stopped the text (``stop_sequence``), which chat's ``finish_reason``
cannot say. So a scenario written for chat completions answers a Messages request as
it is: ``last_user_message``, ``tools``, ``tool_result``, ``last_role`` (``tool`` after
a tool result), ``model`` and ``stream`` mean the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ...errors import BadRequestError

__all__ = [
    "EFFORT_BY_BUDGET",
    "check_thinking",
    "neutral_view",
    "thinking_budget",
    "wants_thinking",
]

# budget_tokens below each bound -> the reasoning effort the reply engine knows.
EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
_EFFORTS: Mapping[str, str] = MappingProxyType(
    {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
)


def _text_blocks(blocks: Any) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": str(block.get("text", ""))}
        for block in blocks
        if isinstance(block, Mapping) and block.get("type") == "text"
    ]


def _part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    """One user content block as a chat content part (None: not prompt text)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    found = block.get("source")
    source: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if kind == "image":
        url = source.get("url") or (
            f"data:{source.get('media_type')};base64,{source.get('data', '')}"
        )
        return {"type": "image_url", "image_url": {"url": str(url)}}
    if kind == "document":
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data", ""))}
        return {"type": "file", "file": {"filename": str(block.get("title") or "document")}}
    if kind == "search_result":
        return {
            "type": "text",
            "text": "\n".join(b["text"] for b in _text_blocks(block.get("content") or ())),
        }
    return None


def _result_text(content: Any) -> Any:
    """A ``tool_result``'s content: a string as is, blocks as chat parts."""
    if isinstance(content, str) or content is None:
        return content or ""
    return [
        part
        for block in content
        if isinstance(block, Mapping) and (part := _part(block)) is not None
    ]


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        out.append({"role": "system", "content": _text_blocks(system)})
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = [b for b in content or () if isinstance(b, Mapping)]
        if role == "assistant":
            out.append(_assistant(blocks))
            continue
        for block in blocks:
            if block.get("type") == "tool_result":
                result = {
                    "role": "tool",
                    "tool_call_id": str(block.get("tool_use_id", "")),
                    "content": _result_text(block.get("content")),
                }
                if block.get("is_error"):
                    result["is_error"] = True
                out.append(result)
        parts = [
            part
            for b in blocks
            if b.get("type") != "tool_result" and (part := _part(b)) is not None
        ]
        if parts or not any(b.get("type") == "tool_result" for b in blocks):
            out.append({"role": role, "content": parts})
    return out


def _assistant(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    calls = [
        {
            "id": str(b.get("id", "")),
            "type": "function",
            "function": {
                "name": str(b.get("name", "")),
                "arguments": json.dumps(
                    b.get("input") or {}, ensure_ascii=False, separators=(",", ":")
                ),
            },
        }
        for b in blocks
        if b.get("type") in ("tool_use", "server_tool_use")
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            continue
        kind = tool.get("type")
        if kind in (None, "custom"):
            function = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {}}
            if tool.get("description") is not None:
                function["description"] = tool["description"]
            out.append({"type": "function", "function": function})
        else:  # a server tool (web_search_20250305...): seen by conditions, never called
            out.append({"type": str(kind), "name": tool.get("name")})
    return out


def _tool_choice(choice: Any) -> Any:
    if not isinstance(choice, Mapping):
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "auto": "auto", "none": "none"}.get(str(kind))


def wants_thinking(body: Mapping[str, Any]) -> bool:
    """Whether ``body`` turns extended thinking on (enabled or adaptive)."""
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive")


def thinking_budget(body: Mapping[str, Any]) -> int | None:
    """``thinking.budget_tokens`` when thinking is enabled with a budget."""
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def check_thinking(body: Mapping[str, Any]) -> None:
    """The API's rules for extended thinking that a schema cannot say (a 400 each):
    ``budget_tokens`` below ``max_tokens``, no forced tool use, ``temperature`` 1 only."""
    if not wants_thinking(body):
        return
    budget = thinking_budget(body)
    max_tokens = body.get("max_tokens")
    if budget is not None and isinstance(max_tokens, int) and budget >= max_tokens:
        raise BadRequestError(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size",
            param="max_tokens",
        )
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
        raise BadRequestError(
            "Thinking may not be enabled when tool_choice forces tool use.", param="tool_choice"
        )
    if body.get("temperature", 1) != 1:
        raise BadRequestError(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#feature-compatibility",
            param="temperature",
        )


def _effort(body: Mapping[str, Any]) -> str | None:
    if not wants_thinking(body):
        return None
    budget = thinking_budget(body)
    if budget is not None:
        return next((name for bound, name in EFFORT_BY_BUDGET if budget < bound), "high")
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, Mapping) else None
    return _EFFORTS.get(str(effort), "medium")


def neutral_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """The neutral request view of a Messages (or count_tokens) body (module docstring)."""
    view: dict[str, Any] = {"model": body.get("model"), "messages": _messages(body)}
    tools = _tools(body.get("tools"))
    if tools:
        view["tools"] = tools
    choice = body.get("tool_choice")
    neutral_choice = _tool_choice(choice)
    if neutral_choice is not None:
        view["tool_choice"] = neutral_choice
    if isinstance(choice, Mapping) and choice.get("disable_parallel_tool_use"):
        view["parallel_tool_calls"] = False
    if "max_tokens" in body:
        view["max_completion_tokens"] = body["max_tokens"]
    if body.get("stream"):
        view["stream"] = True
    effort = _effort(body)
    if effort is not None:
        view["reasoning_effort"] = effort
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        view["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.get("schema") or {"type": "object"}},
        }
    for key in ("temperature", "top_p"):
        if key in body:
            view[key] = body[key]
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str):
        view["user"] = metadata["user_id"]
    return view
