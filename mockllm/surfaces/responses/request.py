"""Responses requests: ``POST /v1/responses`` bodies -> the neutral request view.

``instructions`` become a leading system message, a string ``input`` one user message,
input items the chat messages they stand for (``function_call`` items an assistant
message's ``tool_calls``, ``function_call_output`` a ``tool`` message, replayed
``output_text`` parts text), flat function tools and ``tool_choice`` the nested chat
forms, ``text.format`` the ``response_format``, ``max_output_tokens`` the
``max_completion_tokens``, ``reasoning.effort`` the ``reasoning_effort``. Earlier turns
(``previous_response_id``, a conversation) come first, as the model would see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ...errors import FieldError
from ...naming import to_pascal

__all__ = ["input_items", "problems", "to_pascal_path", "to_view"]

# The content part types whose text a message carries.
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if isinstance(given, list):
        return [item for item in given if isinstance(item, dict)]
    return []


def to_view(
    body: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = (), *, inherited: bool = False
) -> dict[str, Any]:
    """The neutral view of ``body``; with ``inherited``, ``items`` are the whole
    context (earlier turns, then the input with its references resolved) instead of
    the body's own input."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    messages += _messages(items if inherited else input_items(body))
    view: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    tools = [t for t in map(_tool, body.get("tools") or ()) if t is not None]
    if tools:
        view["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        view["tool_choice"] = choice
    fmt = _response_format((body.get("text") or {}).get("format"))
    if fmt is not None:
        view["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and reasoning.get("effort") is not None:
        view["reasoning_effort"] = reasoning["effort"]
    if body.get("max_output_tokens") is not None:
        view["max_completion_tokens"] = body["max_output_tokens"]
    include = body.get("include") or ()
    if "message.output_text.logprobs" in include:
        view["logprobs"] = True
        if body.get("top_logprobs"):
            view["top_logprobs"] = body["top_logprobs"]
    for key in (
        "stream",
        "metadata",
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "user",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
    ):
        if body.get(key) is not None:
            view[key] = body[key]
    return view


def _messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for Responses input items (consecutive calls share one message)."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _content(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": _content(item.get("output")),
                }
            )
    return messages


def _content(content: Any) -> Any:
    """A message's content: a string as it is, parts as chat text (and image) parts."""
    if not isinstance(content, list):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
    return parts


def _tool(tool: Any) -> dict[str, Any] | None:
    """A flat Responses function (or custom) tool in chat's nested form."""
    if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
        return None
    if tool.get("type") == "function":
        function = {
            "name": tool["name"],
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        for key in ("description", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        return {"type": "function", "function": function}
    if tool.get("type") == "custom":
        return {"type": "custom", "custom": {"name": tool["name"]}}
    return None


def _tool_choice(choice: Any) -> Any:
    """``tool_choice`` in chat's form: a mode, or the forced function nested."""
    if isinstance(choice, str) or choice is None:
        return choice
    if isinstance(choice, Mapping):
        if choice.get("type") == "function" and isinstance(choice.get("name"), str):
            return {"type": "function", "function": {"name": choice["name"]}}
        if choice.get("type") == "allowed_tools":
            return choice.get("mode", "auto")
    return None


def _response_format(fmt: Any) -> dict[str, Any] | None:
    """``text.format`` as chat's ``response_format`` (json_schema fields nested)."""
    if not isinstance(fmt, Mapping):
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        inner = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": inner}
    if kind in ("json_object", "text"):
        return {"type": kind}
    return None


# Chat completions fields the Responses API does not take.
_CHAT_ONLY = (
    "messages",
    "n",
    "stop",
    "seed",
    "logit_bias",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
    "modalities",
    "audio",
)


def problems(body: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of a create body at once, spelt as the API spells them."""
    found: list[FieldError] = []

    def bad(param: str, code: str, message: str) -> None:
        found.append(FieldError(to_pascal_path(param), param, _SERVICESTACK[code], code, message))

    for key in _CHAT_ONLY:
        if key in body:
            bad(key, "unknown_parameter", f"Unknown parameter: '{key}'.")
    model = body.get("model")
    if model is None and body.get("prompt") is None:
        bad("model", "missing_required_parameter", "Missing required parameter: 'model'.")
    elif model is not None and not isinstance(model, str):
        bad("model", "invalid_type", _type_message("model", "a string", model))
    given = body.get("input")
    if given is not None and not isinstance(given, (str, list)):
        bad("input", "invalid_type", _type_message("input", "a string or an array", given))
    elif isinstance(given, list):
        for index, item in enumerate(given):
            _item_problems(f"input[{index}]", item, bad)
    tokens = body.get("max_output_tokens")
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool)):
        bad(
            "max_output_tokens",
            "invalid_type",
            _type_message("max_output_tokens", "an integer", tokens),
        )
    elif tokens is not None and tokens < 16:
        bad(
            "max_output_tokens",
            "integer_below_min_value",
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
            f">= 16, but got {tokens} instead.",
        )
    for key, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            bad(key, "invalid_type", _type_message(key, "a number", value))
        elif value is not None and not 0 <= value <= high:
            bad(
                key,
                "decimal_above_max_value" if value > high else "decimal_below_min_value",
                f"Invalid '{key}': expected a value between 0 and {high}, but got {value} instead.",
            )
    for key in ("stream", "store", "background", "parallel_tool_calls"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            bad(key, "invalid_type", _type_message(key, "a boolean", body[key]))
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        bad("tools", "invalid_type", _type_message("tools", "an array", tools))
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        where = f"tools[{index}]"
        if not isinstance(tool, Mapping) or not isinstance(tool.get("type"), str):
            bad(
                f"{where}.type",
                "missing_required_parameter",
                f"Missing required parameter: '{where}.type'.",
            )
        elif tool["type"] in ("function", "custom") and not isinstance(tool.get("name"), str):
            bad(
                f"{where}.name",
                "missing_required_parameter",
                f"Missing required parameter: '{where}.name'.",
            )
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), Mapping) else None
    if isinstance(fmt, Mapping):
        kind = fmt.get("type")
        if kind not in ("text", "json_object", "json_schema"):
            bad(
                "text.format.type",
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
                "'json_schema'.",
            )
        elif kind == "json_schema":
            for key in ("name", "schema"):
                if key not in fmt:
                    bad(
                        f"text.format.{key}",
                        "missing_required_parameter",
                        f"Missing required parameter: 'text.format.{key}'.",
                    )
    if body.get("previous_response_id") is not None and body.get("conversation") is not None:
        bad(
            "previous_response_id",
            "invalid_value",
            "Cannot use both 'previous_response_id' and 'conversation' in the same request.",
        )
    return found


def _item_problems(where: str, item: Any, bad: Callable[[str, str, str], None]) -> None:
    """The problems of one input item."""
    if not isinstance(item, Mapping):
        bad(where, "invalid_type", _type_message(where, "an object", item))
        return
    kind = item.get("type", "message")
    needs = {
        "message": ("role", "content"),
        "function_call": ("call_id", "name", "arguments"),
        "function_call_output": ("call_id", "output"),
        "item_reference": ("id",),
    }
    for key in needs.get(kind, ()):
        if key not in item:
            bad(
                f"{where}.{key}",
                "missing_required_parameter",
                f"Missing required parameter: '{where}.{key}'.",
            )
    if kind == "message" and item.get("role") not in (
        None,
        "user",
        "assistant",
        "system",
        "developer",
    ):
        bad(
            f"{where}.role",
            "invalid_value",
            f"Invalid value: '{item.get('role')}'. Supported values are: 'user', 'assistant', "
            "'system' and 'developer'.",
        )


def _type_message(param: str, expected: str, value: Any) -> str:
    return f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead."


def _kind(value: Any) -> str:
    return {
        list: "an array",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "an integer",
        float: "a decimal",
    }.get(type(value), "a value")


def to_pascal_path(param: str) -> str:
    """A snake_case JSON path as ServiceStack's field name (``tools[0].name`` ->
    ``Tools[0].Name``), for the journal."""
    return ".".join(to_pascal(part) for part in param.split("."))


# OpenAI's codes -> the ServiceStack validator codes the journal shows.
_SERVICESTACK = MappingProxyType(
    {
        "unknown_parameter": "Unknown",
        "missing_required_parameter": "NotNull",
        "invalid_type": "InvalidType",
        "integer_below_min_value": "GreaterThanOrEqual",
        "decimal_above_max_value": "InclusiveBetween",
        "decimal_below_min_value": "InclusiveBetween",
        "invalid_value": "Enum",
    }
)
