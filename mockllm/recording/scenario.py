"""One recorded exchange -> one scenario in the format users write (docs/recording.md).

``when`` is taken from the request, exactly: the model, the last user message, the
system prompt, the offered tool names, whether tool results are present and the turn.
Two requests that differ in any of these get different scenarios; two that agree in
all of them get one scenario whose ``sequence`` holds their replies in recording order
(``merge``). ``reply`` is the upstream's answer as a reply spec: content, tool calls
(ids and argument strings verbatim), refusal, reasoning, logprobs, annotations, audio
transcript, finish_reason and usage per choice, or a scripted ``error`` with the
upstream's status, body fields and retry headers. The name is readable (the user
message as a slug) and deterministic (a hash of ``when``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ..chatbody import last_user_text, system_text, tool_name
from ..scenario_engine.conditions import RequestView

__all__ = [
    "RETRY_HEADERS",
    "error_reply",
    "merge",
    "reply_from_completion",
    "scenario_for",
    "when_for",
]

# Response headers of an error that a client's retry logic reads (wire-format.md 5.4).
RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")
_RATE_PREFIX = "x-ratelimit-"
_SLUG_WORDS = 8
_SLUG_CHARS = 48


def when_for(request: Mapping[str, Any]) -> dict[str, Any]:
    """The conditions that match ``request`` (and requests differing from it only in
    what does not shape an answer: sampling, stream, seed...)."""
    view = RequestView(request)
    messages = view.messages
    when: dict[str, Any] = {"model": request.get("model")}
    user = last_user_text(messages)
    # A plain string is equality and lets the scenario set index the scenario.
    when["last_user_message"] = user if user is not None else {"exists": False}
    system = system_text(messages)
    when["system_message"] = {"eq": system} if system is not None else {"exists": False}
    tools = [n for n in map(tool_name, request.get("tools") or ()) if n is not None]
    when["tools"] = {"eq": tools} if tools else {"exists": False}
    results = any(isinstance(m, Mapping) and m.get("role") == "tool" for m in messages)
    when["tool_result"] = {"exists": results}
    when["turn"] = view.turn
    return when


def scenario_name(when: Mapping[str, Any]) -> str:
    """``<slug of the last user message>-<hash of when>``: readable, and the same for
    the same conditions in every run."""
    user = when.get("last_user_message")
    words = re.findall(r"[a-z0-9]+", user.lower()) if isinstance(user, str) else []
    slug = "-".join(words[:_SLUG_WORDS])[:_SLUG_CHARS].strip("-") or "no-user-message"
    canonical = json.dumps(when, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{slug}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def scenario_for(request: Mapping[str, Any], reply: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario that answers ``request`` with ``reply``."""
    when = when_for(request)
    return {"name": scenario_name(when), "when": when, "reply": dict(reply)}


def merge(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``recorded`` with the reply of ``new`` (same conditions) appended: the same
    request asked again replays its answers in the order they were recorded."""
    merged = {k: v for k, v in recorded.items() if k not in ("reply", "sequence")}
    replies = list(recorded.get("sequence") or [recorded.get("reply") or {}])
    replies.append(new.get("reply") or {})
    merged["sequence"] = replies
    return merged


# --------------------------------------------------------------------------- replies


def reply_from_completion(request: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The reply spec that gives ``body`` (a ``chat.completion``) back for ``request``."""
    choices = sorted(
        (c for c in body.get("choices") or () if isinstance(c, Mapping)),
        key=lambda c: int(c.get("index") or 0),
    )
    replies = [_choice_reply(request, c) for c in choices] or [{"content": None}]
    reply: dict[str, Any] = {}
    if len(replies) == 1:
        reply.update(replies[0])
    else:
        reply["choices"] = replies
    usage = _usage(body.get("usage"))
    if usage:
        reply["usage"] = usage
    for key in ("model", "system_fingerprint", "service_tier", "provider"):
        if isinstance(body.get(key), str) and body[key]:
            reply[key] = body[key]
    return reply


def _choice_reply(request: Mapping[str, Any], choice: Mapping[str, Any]) -> dict[str, Any]:
    message = choice.get("message") or {}
    reply: dict[str, Any] = {}
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        reply["refusal"] = refusal
    else:
        reply["content"] = message.get("content")
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        reply["reasoning"] = reasoning
    elif "reasoning_effort" in request or "enable_thinking" in request:
        reply["reasoning"] = False  # the upstream sent none: replay none either
    calls = [_tool_call(c) for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
    if calls:
        reply["tool_calls"] = calls
    audio = message.get("audio")
    if isinstance(audio, Mapping):
        reply["audio"] = {"transcript": str(audio.get("transcript") or "")}
    annotations = [
        _annotation(a)
        for a in message.get("annotations") or ()
        if isinstance(a, Mapping) and isinstance(a.get("url_citation"), Mapping)
    ]
    if annotations:
        reply["annotations"] = annotations
    logprobs = _logprobs(choice.get("logprobs"))
    if logprobs is not None:
        reply["logprobs"] = logprobs
    if choice.get("finish_reason"):
        reply["finish_reason"] = choice["finish_reason"]
    return reply


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    recorded: dict[str, Any] = {"name": function.get("name")}
    if call.get("id"):
        recorded["id"] = call["id"]
    arguments = function.get("arguments")
    # The string as sent: a replay gives the same bytes (a parsed object would be re-dumped).
    recorded["arguments"] = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return recorded


def _annotation(annotation: Mapping[str, Any]) -> dict[str, Any]:
    cite = annotation["url_citation"]
    out: dict[str, Any] = {"url": str(cite.get("url") or "")}
    if cite.get("title") is not None:
        out["title"] = str(cite["title"])
    for key in ("start_index", "end_index"):
        if isinstance(cite.get(key), int):
            out[key] = cite[key]
    return out


def _logprobs(logprobs: Any) -> dict[str, Any] | None:
    if not isinstance(logprobs, Mapping) or not isinstance(logprobs.get("content"), list):
        return None
    tokens = []
    for entry in logprobs["content"]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("token"), str):
            continue
        item: dict[str, Any] = {"token": entry["token"], "logprob": entry.get("logprob", 0.0)}
        tops = [
            {"token": t["token"], "logprob": t.get("logprob", 0.0)}
            for t in entry.get("top_logprobs") or ()
            if isinstance(t, Mapping) and isinstance(t.get("token"), str)
        ]
        if tops:
            item["top_logprobs"] = tops
        tokens.append(item)
    return {"tokens": tokens}


def _usage(usage: Any) -> dict[str, Any]:
    """The integer counts of a usage block (nulls and unknown shapes dropped)."""
    if not isinstance(usage, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if isinstance(usage.get(key), int):
            out[key] = usage[key]
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        details = usage.get(key)
        if isinstance(details, Mapping):
            counts = {
                str(k): v
                for k, v in details.items()
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0
            }
            if counts:
                out[key] = counts
    return out


def error_reply(status: int, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """A scripted ``error`` reply: the upstream's status, the fields of its error body
    (OpenAI's ``error`` or ServiceStack's ``responseStatus``) and its retry headers."""
    error: dict[str, Any] = {"status": status if 400 <= status <= 599 else 502}
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        found = data["error"]
        for key in ("message", "type"):
            if isinstance(found.get(key), str):
                error[key] = found[key]
        for key in ("code", "param"):
            if key in found and (found[key] is None or isinstance(found[key], str)):
                error[key] = found[key]
    status_block = data.get("responseStatus") if isinstance(data, Mapping) else None
    if isinstance(status_block, Mapping):
        if isinstance(status_block.get("errorCode"), str):
            error["errorCode"] = status_block["errorCode"]
        if "message" not in error and isinstance(status_block.get("message"), str):
            error["message"] = status_block["message"]
        fields = [
            {
                k: str(v)
                for k, v in e.items()
                if k in ("fieldName", "errorCode", "message") and v is not None
            }
            for e in status_block.get("errors") or ()
            if isinstance(e, Mapping)
        ]
        if fields:
            error["field_errors"] = fields
    if "message" not in error and data is None and body.strip():
        error["message"] = body.decode("utf-8", "replace").strip()[:2000]
    kept = {
        name.lower(): str(value)
        for name, value in headers.items()
        if name.lower() in RETRY_HEADERS or name.lower().startswith(_RATE_PREFIX)
    }
    if kept:
        error["headers"] = dict(sorted(kept.items()))
    return {"error": error}
