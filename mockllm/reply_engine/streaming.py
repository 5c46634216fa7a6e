"""A ChatResponse dict -> the ``chat.completion.chunk`` dicts of its stream (wire-format.md 4).

The chunks are shaped so that OpenAI's own accumulator
(``openai.lib.streaming.chat.ChatCompletionStreamState``, behind
``client.chat.completions.stream()``) rebuilds the non-streaming message. That
accumulator concatenates strings and adds numbers, so every field that must not
grow is sent exactly once:

* every chunk carries the same ``id``, ``created``, ``model`` and ``system_fingerprint``
  (and ``service_tier`` / ``provider`` when the body has them);
* a choice opens with ``{role: assistant, content: ""}`` (content ``null`` for a tool
  call, refusal or audio reply; ``refusal: ""`` for a refusal) - ``role`` only there;
* then ``reasoning`` pieces, then ``content`` pieces (each with the logprobs of the
  tokens that end in it), ``refusal`` pieces, the ``annotations`` in one delta;
* each tool call opens with ``index``, ``id``, ``type``, ``function.name`` and empty
  ``arguments``; later deltas carry only ``index`` and an ``arguments`` fragment;
* audio arrives as ``delta.audio``: the ``id`` once, ``transcript`` pieces, ``data``
  pieces of base64, and ``expires_at`` once;
* each choice ends with an empty delta and its ``finish_reason``; choices interleave
  (n > 1) and each first appears in index order;
* with ``include_usage`` every chunk has ``"usage": null`` and a last chunk with
  ``choices: []`` carries the usage; without it there is no ``usage`` key.

A choice whose non-streaming ``annotations`` is ``[]`` sends none, so the
accumulated message has no annotations key there (as OpenAI's streams do).
The ``data:`` / ``[DONE]`` framing is :mod:`mockllm.http.wire`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .tokens import ApproxTokenizer, Tokenizer

__all__ = ["iter_chunks"]

_ENVELOPE_KEYS = ("id", "created", "model", "system_fingerprint", "service_tier", "provider")
# Base64 audio is sent in pieces of this many characters (a multiple of 4).
_AUDIO_PIECE = 8192


def iter_chunks(body: Mapping[str, Any], *, include_usage: bool, chunking: str = "tokens",
                chunk_size: int = 1, tokenizer: Tokenizer | None = None,
                ) -> Iterator[dict[str, Any]]:
    """The chunks of ``body`` in order (module docstring).

    ``chunking`` is ``tokens`` (``chunk_size`` tokens per content delta) or ``chars``
    (``chunk_size`` characters). ``tokenizer`` splits text that has no logprobs tokens;
    pass the model's (``Generator.tokenizer_for(model)``) so chunks match the usage counts.
    """
    if chunking not in ("tokens", "chars"):
        raise ValueError(f"chunking must be 'tokens' or 'chars', not {chunking!r}")
    split = (tokenizer or ApproxTokenizer()).split
    size = max(int(chunk_size), 1)
    envelope: dict[str, Any] = {"object": "chat.completion.chunk"}
    for key in _ENVELOPE_KEYS:
        if body.get(key) is not None:
            envelope[key] = body[key]
    if include_usage:
        envelope["usage"] = None
    streams = [_choice_deltas(choice, split, chunking, size) for choice in body["choices"]]
    # Round-robin over the choices, as OpenAI interleaves them.
    while streams:
        alive = []
        for stream in streams:
            part = next(stream, None)
            if part is not None:
                alive.append(stream)
                yield {**envelope, "choices": [part]}
        streams = alive
    if include_usage:
        yield {**envelope, "choices": [], "usage": body.get("usage")}


def _choice_deltas(choice: Mapping[str, Any], split: Any, chunking: str,
                   size: int) -> Iterator[dict[str, Any]]:
    index = choice["index"]
    message = choice["message"]
    logprobs = choice.get("logprobs")

    def part(delta: dict[str, Any], probs: Any = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": probs, "finish_reason": None}

    content = message.get("content")
    refusal = message.get("refusal")
    opening: dict[str, Any] = {"role": "assistant", "content": "" if content is not None else None}
    if refusal is not None:
        opening["refusal"] = ""
    opening_probs: dict[str, list[Any] | None] | None = None
    if logprobs is not None:
        # An empty list opens the accumulator's lists, so later chunks extend them.
        opening_probs = {key: ([] if logprobs.get(key) is not None else None)
                         for key in ("content", "refusal")}
    yield part(opening, opening_probs)

    reasoning = message.get("reasoning")
    if reasoning:
        for piece, _ in _pieces(reasoning, None, split, chunking, size):
            yield part({"reasoning": piece})

    if content:
        entries = (logprobs or {}).get("content")
        for piece, probs in _pieces(content, entries, split, chunking, size):
            yield part({"content": piece},
                       {"content": probs, "refusal": None} if entries is not None else None)

    if refusal:
        entries = (logprobs or {}).get("refusal")
        for piece, probs in _pieces(refusal, entries, split, chunking, size):
            yield part({"refusal": piece},
                       {"content": None, "refusal": probs} if entries is not None else None)

    if message.get("annotations"):
        yield part({"annotations": message["annotations"]})

    audio = message.get("audio")
    if audio:
        yield from (part({"audio": piece}) for piece in _audio_pieces(audio, split, size))

    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        yield part({"tool_calls": [{
            "index": position, "id": call["id"], "type": call.get("type", "function"),
            "function": {"name": function["name"], "arguments": ""},
        }]})
        for piece, _ in _pieces(function.get("arguments") or "", None, split, chunking, size):
            yield part({"tool_calls": [{"index": position, "function": {"arguments": piece}}]})

    yield {"index": index, "delta": {}, "logprobs": None,
           "finish_reason": choice.get("finish_reason") or "stop"}


def _pieces(text: str, entries: Sequence[Mapping[str, Any]] | None, split: Any, chunking: str,
            size: int) -> Iterator[tuple[str, list[Any]]]:
    """(piece of ``text``, logprobs entries of the tokens that end inside it)."""
    if chunking == "chars" and not entries:  # no tokens to place: cut the text alone
        for start in range(0, len(text), size):
            yield text[start:start + size], []
        return
    tokens = [e["token"] for e in entries] if entries else None
    if tokens is None or "".join(tokens) != text:
        tokens = split(text)
        entries = entries if entries and len(entries) == len(tokens) else None
    if chunking == "tokens":
        for start in range(0, len(tokens), size):
            piece = "".join(tokens[start:start + size])
            yield piece, list(entries[start:start + size]) if entries else []
        return
    ends = []
    position = 0
    for token in tokens:
        position += len(token)
        ends.append(position)
    taken = 0
    for start in range(0, len(text), size):
        stop = min(start + size, len(text))
        first = taken
        while taken < len(ends) and ends[taken] <= stop:
            taken += 1
        yield text[start:stop], list(entries[first:taken]) if entries else []


def _audio_pieces(audio: Mapping[str, Any], split: Any, size: int) -> Iterator[dict[str, Any]]:
    transcript = audio.get("transcript") or ""
    yield {"id": audio["id"], "transcript": ""}
    for piece in _groups(split(transcript), size):
        yield {"transcript": piece}
    data = audio.get("data") or ""
    for start in range(0, len(data), _AUDIO_PIECE):
        yield {"data": data[start:start + _AUDIO_PIECE]}
    if audio.get("expires_at") is not None:
        yield {"expires_at": audio["expires_at"]}


def _groups(tokens: Sequence[str], size: int) -> Iterator[str]:
    for start in range(0, len(tokens), size):
        yield "".join(tokens[start:start + size])
