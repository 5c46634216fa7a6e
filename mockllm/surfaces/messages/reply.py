"""The reply engine's reply -> an Anthropic ``Message``.

The engine builds a chat completion for the neutral view (:mod:`.request`); its first
choice becomes the message's content blocks, in the order Anthropic sends them:

* ``thinking`` (the reply's reasoning, with a signature: a seeded base64 value that
  changes with the text, as the real one does), or ``redacted_thinking`` when the
  scenario's reply says ``redacted_thinking: true`` (or gives its ``data``);
  ``thinking.display: omitted`` sends the block with empty text and its signature;
* ``text`` (none when the reply has no text but calls tools); URL citations become
  cited text blocks (``web_search_result_location``), split where the spans are; a
  block without citations has no ``citations`` key, as the API sends it (the Vercel AI
  SDK refuses ``citations: null``);
* ``tool_use`` blocks (ids ``toolu_``, ``input`` the call's arguments as an object),
  only the first when ``disable_parallel_tool_use`` is set.

``stop_sequences`` are applied here (the earliest match cuts the text; ``stop_reason``
``stop_sequence`` with the matched string), then ``stop_reason`` comes from the
engine's finish: ``max_tokens`` when cut, ``tool_use`` when tools were called,
``refusal`` for a refusal, else ``end_turn``. ``usage.output_tokens`` counts thinking,
text and tool input; the input side is split by the prompt cache (:class:`Caching`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ...reply_engine.tokens import Tokenizer

__all__ = ["Caching", "build_message", "message_id", "signature", "tool_use_id"]


class Caching(NamedTuple):
    """How the prompt's tokens split between the cache and fresh input."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0


def signature(text: str, model: str) -> str:
    """A thinking block's signature: opaque base64, the same for the same thinking."""
    digest = hashlib.sha512(f"{model}\x00{text}".encode()).digest()
    return "Eq" + base64.b64encode(digest + hashlib.sha256(digest).digest()).decode()


def message_id(chat_id: str) -> str:
    """``msg_01...`` from the engine's seeded id (the same seed, the same id)."""
    return "msg_01" + chat_id.removeprefix("chatcmpl-")[:22]


def tool_use_id(call_id: str) -> str:
    """``toolu_01...`` for a generated call id; an id a scenario gave is kept."""
    return "toolu_01" + call_id[5:27] if call_id.startswith("call_") else call_id


def _stop_at(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """``text`` cut before the earliest of ``stops``, and the stop that cut it."""
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return (text, None) if best is None else (text[: best[0]], best[1])


def _text_blocks(text: str, annotations: Sequence[Any]) -> list[dict[str, Any]]:
    """``text`` as text blocks: each cited span its own block with its citation."""
    spans = sorted(
        (
            a["url_citation"]
            for a in annotations
            if isinstance(a, Mapping) and isinstance(a.get("url_citation"), Mapping)
        ),
        key=lambda c: int(c.get("start_index", 0)),
    )
    blocks: list[dict[str, Any]] = []
    at = 0
    for cite in spans:
        start, end = int(cite.get("start_index", 0)), int(cite.get("end_index", 0))
        if start < at or end <= start or end > len(text):
            continue
        if start > at:
            blocks.append({"type": "text", "text": text[at:start]})
        blocks.append(
            {
                "type": "text",
                "text": text[start:end],
                "citations": [
                    {
                        "type": "web_search_result_location",
                        "cited_text": text[start:end],
                        "url": str(cite.get("url", "")),
                        "title": str(cite.get("title") or cite.get("url", "")),
                        "encrypted_index": base64.b64encode(
                            hashlib.sha256(str(cite.get("url", "")).encode()).digest()[:24]
                        ).decode(),
                    }
                ],
            }
        )
        at = end
    if at < len(text) or not blocks:
        blocks.append({"type": "text", "text": text[at:]})
    return blocks


def _input(arguments: str) -> dict[str, Any]:
    """A call's arguments as ``input`` (a cut-off JSON text, after a ``max_tokens`` stop,
    gives what parsed: nothing)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _thinking(
    body: Mapping[str, Any], reasoning: str, reply: Mapping[str, Any], model: str
) -> dict[str, Any]:
    redacted = reply.get("redacted_thinking")
    if redacted:
        data = redacted if isinstance(redacted, str) else signature("redacted " + reasoning, model)
        return {"type": "redacted_thinking", "data": data}
    thinking = body.get("thinking")
    omitted = isinstance(thinking, Mapping) and thinking.get("display") == "omitted"
    return {
        "type": "thinking",
        "thinking": "" if omitted else reasoning,
        "signature": signature(reasoning, model),
    }


def build_message(
    body: Mapping[str, Any],
    generated: Mapping[str, Any],
    reply: Mapping[str, Any],
    tokenizer: Tokenizer,
    caching: Caching | None = None,
) -> dict[str, Any]:
    """The ``Message`` for ``generated`` (the engine's chat completion of the neutral
    view of ``body``; ``reply`` the rendered reply spec)."""
    caching = caching or Caching()
    choice = generated["choices"][0]
    message = choice["message"]
    usage = generated.get("usage") or {}
    model = str(generated.get("model") or body.get("model"))
    output = int(usage.get("completion_tokens") or 0)
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str) and (reasoning or reply.get("redacted_thinking")):
        content.append(_thinking(body, reasoning, reply, model))

    finish = choice.get("finish_reason")
    stop_sequence = None
    text = message.get("content")
    if isinstance(text, str):
        stops = body.get("stop_sequences") or ()
        cut, stop_sequence = _stop_at(text, [s for s in stops if isinstance(s, str)])
        if stop_sequence is not None:
            output -= tokenizer.count(text) - tokenizer.count(cut)
            text = cut
    calls = list(message.get("tool_calls") or ())
    choice_opts = body.get("tool_choice")
    if isinstance(choice_opts, Mapping) and choice_opts.get("disable_parallel_tool_use"):
        calls = calls[:1]
    refusal = message.get("refusal")
    if isinstance(text, str) and (text or not calls):
        content.extend(_text_blocks(text, message.get("annotations") or ()))
    elif refusal is not None and not calls:
        content.append({"type": "text", "text": ""})
    if stop_sequence is None:
        for call in calls:
            function = call["function"]
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_use_id(str(call["id"])),
                    "name": function["name"],
                    "input": _input(function["arguments"]),
                    "caller": {"type": "direct"},
                }
            )

    if stop_sequence is not None:
        stop_reason = "stop_sequence"
    elif finish == "length":
        stop_reason = "max_tokens"
    elif refusal is not None or finish == "content_filter":
        stop_reason = "refusal"
    elif any(block["type"] == "tool_use" for block in content):
        stop_reason = "tool_use"
    else:
        stop_reason = str(reply.get("stop_reason") or "end_turn")
    prompt = int(usage.get("prompt_tokens") or 0)
    written = caching.written_5m + caching.written_1h
    return {
        "id": message_id(str(generated.get("id", ""))),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": (
            {"type": "refusal", "category": None, "explanation": str(refusal)}
            if stop_reason == "refusal" and refusal is not None
            else None
        ),
        "usage": {
            "input_tokens": max(prompt - caching.read - written, 0),
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": caching.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": caching.written_5m,
                "ephemeral_1h_input_tokens": caching.written_1h,
            },
            "output_tokens": max(output, 0),
            "server_tool_use": None,
            "service_tier": "standard",
            "inference_geo": "not_available",
        },
        "container": None,
    }
