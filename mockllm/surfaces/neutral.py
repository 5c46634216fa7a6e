"""The neutral reply: what the model said, in a form that belongs to no API.

The reply engine builds one reply per request (text, reasoning, tool calls, a refusal,
citations, logprobs, why it stopped, the token counts); :func:`reply_of` reads it into
the small frozen types below, which every surface but chat completions writes from
(chat completions writes the engine's output as it is: it is that API's own body, and
its bytes stay exactly what they were before surfaces existed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Citation", "Reply", "ToolCall", "Usage", "reply_of"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model makes: its call id, the function and its arguments
    (a JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A ``url_citation``: the span ``[start, end)`` of the text that cites ``url``."""

    url: str
    title: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts: the prompt (``cached`` of them from a cache) and the output
    (``reasoning`` of them thinking)."""

    input: int
    output: int
    cached: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        """Input and output together."""
        return self.input + self.output


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply of the model.

    ``finish`` is why it stopped: ``stop``, ``length`` (out of output tokens),
    ``tool_calls`` or ``content_filter``. ``text`` is None when the model wrote none
    (a tool call, a refusal). ``logprobs`` are the engine's per-token entries of the
    text (``{token, logprob, bytes, top_logprobs}``), when asked for.
    """

    id: str
    created: int
    model: str
    text: str | None
    refusal: str | None
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    citations: tuple[Citation, ...]
    finish: str
    usage: Usage
    logprobs: tuple[Mapping[str, Any], ...] | None = None


def reply_of(generated: Mapping[str, Any]) -> Reply:
    """The neutral reply of the engine's output (its first choice)."""
    choice = generated["choices"][0]
    message = choice.get("message") or {}
    calls = tuple(
        ToolCall(
            id=str(call.get("id")),
            name=str(call["function"]["name"]),
            arguments=str(call["function"].get("arguments") or ""),
        )
        for call in message.get("tool_calls") or ()
    )
    citations = tuple(
        Citation(
            url=str(c["url"]),
            title=str(c.get("title") or ""),
            start=int(c.get("start_index") or 0),
            end=int(c.get("end_index") or 0),
        )
        for note in message.get("annotations") or ()
        if isinstance(c := note.get("url_citation"), Mapping)
    )
    usage = generated.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    output_details = usage.get("completion_tokens_details") or {}
    logprobs = choice.get("logprobs")
    content_probs = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    reasoning = message.get("reasoning")
    return Reply(
        id=str(generated.get("id") or ""),
        created=int(generated.get("created") or 0),
        model=str(generated.get("model") or ""),
        text=message.get("content"),
        refusal=message.get("refusal"),
        reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
        tool_calls=calls,
        citations=citations,
        finish=str(choice.get("finish_reason") or "stop"),
        usage=Usage(
            input=int(usage.get("prompt_tokens") or 0),
            output=int(usage.get("completion_tokens") or 0),
            cached=int(prompt_details.get("cached_tokens") or 0),
            reasoning=int(output_details.get("reasoning_tokens") or 0),
        ),
        logprobs=tuple(content_probs) if isinstance(content_probs, list) else None,
    )
