"""Responses replies: the neutral reply -> a ``response`` object (its output items,
status, usage, and the request's fields echoed with their defaults filled in)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..neutral import Reply

__all__ = ["item_id", "output_items", "response_object", "usage_json"]

# Why the model stopped -> the reason an incomplete response gives.
_INCOMPLETE = MappingProxyType({"length": "max_output_tokens", "content_filter": "content_filter"})


def item_id(reply: Reply, prefix: str, index: int = 0) -> str:
    """A stable id for the ``index``-th thing of a kind (``resp``, ``msg``, ``fc``,
    ``rs``) in ``reply``: the same request and seed give the same ids."""
    digest = hashlib.blake2b(f"{reply.id}:{prefix}:{index}".encode(), digest_size=24)
    return f"{prefix}_{digest.hexdigest()}"


def usage_json(reply: Reply) -> dict[str, Any]:
    """The Responses ``usage`` block."""
    usage = reply.usage
    return {
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": 0},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.total,
    }


def output_items(
    body: Mapping[str, Any], reply: Reply, spec: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The output items, in the order a model produces them: reasoning, the message,
    the function calls."""
    items: list[dict[str, Any]] = []
    include = body.get("include") or ()
    # A reasoning model reasons even when its thinking is only counted (the catalog's
    # OpenAI models): the item is there, its summary only when there is text to show.
    if reply.reasoning or reply.usage.reasoning:
        reasoning: dict[str, Any] = {"id": item_id(reply, "rs"), "type": "reasoning", "summary": []}
        asked = (body.get("reasoning") or {}).get("summary") is not None
        if reply.reasoning and (asked or isinstance(spec.get("reasoning"), str)):
            reasoning["summary"] = [{"type": "summary_text", "text": reply.reasoning}]
        if "reasoning.encrypted_content" in include:
            thought = reply.reasoning or f"{reply.usage.reasoning} reasoning tokens"
            reasoning["encrypted_content"] = (
                "gAAAAB" + base64.urlsafe_b64encode(thought.encode()).decode()
            )
        items.append(reasoning)
    status = "incomplete" if reply.finish in _INCOMPLETE else "completed"
    if reply.refusal is not None:
        items.append(_message(reply, status, {"type": "refusal", "refusal": reply.refusal}))
    elif reply.text or not reply.tool_calls:
        logprobs = list(reply.logprobs or ()) if "message.output_text.logprobs" in include else []
        items.append(
            _message(
                reply,
                status,
                {
                    "type": "output_text",
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": c.start,
                            "end_index": c.end,
                            "title": c.title,
                            "url": c.url,
                        }
                        for c in reply.citations
                    ],
                    "logprobs": logprobs,
                    "text": reply.text or "",
                },
            )
        )
    for index, call in enumerate(reply.tool_calls):
        items.append(
            {
                "id": item_id(reply, "fc", index),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments,
                "call_id": call.id,
                "name": call.name,
            }
        )
    return items


def _message(reply: Reply, status: str, part: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id(reply, "msg"),
        "type": "message",
        "status": status,
        "content": [part],
        "role": "assistant",
    }


def response_object(
    body: Mapping[str, Any],
    reply: Reply,
    output: list[dict[str, Any]],
    *,
    status: str | None = None,
) -> dict[str, Any]:
    """The ``response`` object: ``status`` None means as the reply finished (completed,
    or incomplete when it ran out of tokens); ``in_progress`` gives the snapshot a
    stream opens with (no output, no usage)."""
    if status is None:
        status = "incomplete" if reply.finish in _INCOMPLETE else "completed"
    done = status in ("completed", "incomplete")
    reasoning = body.get("reasoning") or {}
    text = dict(body.get("text") or {})
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    response: dict[str, Any] = {
        "id": item_id(reply, "resp"),
        "object": "response",
        "created_at": reply.created,
        "status": status,
        "background": bool(body.get("background")),
        "completed_at": reply.created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": _INCOMPLETE[reply.finish]}
        if status == "incomplete"
        else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": reply.model or body.get("model"),
        "output": output if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": body.get("service_tier") or "default",
        "store": body.get("store", True) is not False,
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [_echo_tool(t) for t in body.get("tools") or ()],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage_json(reply) if done else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
    conversation = body.get("conversation")
    if conversation is not None:
        response["conversation"] = {
            "id": conversation if isinstance(conversation, str) else conversation.get("id")
        }
    return response


def _echo_tool(tool: Any) -> Any:
    """A tool as the response echoes it, with its defaults filled in."""
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        return tool
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") if tool.get("strict") is not None else True,
    }
