"""A ChatResponse dict -> the ``chat.completion.chunk`` dicts of its stream (wire-format.md 4).

The chunks are shaped so that OpenAI's own accumulator
(``openai.lib.streaming.chat.ChatCompletionStreamState``, behind
``client.chat.completions.stream()``) rebuilds the non-streaming message. That
accumulator concatenates strings and adds numbers, so every field that must not
grow is sent exactly once:

* every chunk carries the same ``id``, ``object``, ``created``, ``model``,
  ``service_tier`` and ``system_fingerprint`` (null too), in that order (then a
  gateway's ``provider``), then ``choices``, ``usage`` and, unless the request's
  ``stream_options.include_obfuscation`` is false, an ``obfuscation`` filler
  (:func:`fillers`), as the API's chunks do;
* a choice opens with ``{role: assistant, content: "", refusal: null}`` (content
  ``null`` for a tool call, refusal or audio reply; ``refusal: ""`` for a refusal) -
  ``role`` only there; a reply that is only tool calls (or a legacy function call)
  has its first call's header in that same opening delta;
* then ``reasoning`` pieces, then ``content`` pieces (each with the logprobs of the
  tokens that end in it), ``refusal`` pieces, the ``annotations`` in one delta;
* each tool call opens with ``index``, ``id``, ``type``, ``function.name`` and empty
  ``arguments``; later deltas carry only ``index`` and an ``arguments`` fragment (a
  custom tool's call: ``custom.name`` and ``custom.input`` the same way); a legacy
  ``function_call`` opens with its ``name`` and then sends ``arguments`` pieces;
* audio arrives as ``delta.audio``: the ``id`` once, ``transcript`` pieces, ``data``
  pieces of base64, and ``expires_at`` once;
* each choice ends with an empty delta and its ``finish_reason``; choices interleave
  (n > 1) and each first appears in index order;
* with ``include_usage`` every chunk has ``"usage": null`` and a last chunk with
  ``choices: []`` carries the usage; without it there is no ``usage`` key;
* a moderated completion (``moderation`` in the request) ends with a chunk of its own,
  ``choices: []`` and the ``moderation`` object, after the usage chunk.

A choice whose non-streaming ``annotations`` is ``[]`` sends none, so the
accumulated message has no annotations key there (as OpenAI's streams do).

:func:`iter_chunks` gives the chunks as dicts (the browser view shows them);
:func:`chunk_json` gives the same chunks as the bytes a stream sends, with the
envelope every chunk repeats encoded once and each chunk's choice spliced in, so a
stream neither copies nor encodes the envelope again for every chunk. The
``data:`` / ``[DONE]`` framing is :mod:`mockllm.http.wire`'s job.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from .tokens import ApproxTokenizer, Tokenizer

__all__ = ["ChunkJson", "chunk_json", "fillers", "iter_chunks"]

# The envelope's keys in the API's order; system_fingerprint is sent even when null.
_ENVELOPE_KEYS = ("id", "object", "created", "model", "service_tier", "system_fingerprint")
# Base64 audio is sent in pieces of this many characters (a multiple of 4).
_AUDIO_PIECE = 8192
# An obfuscation filler is 1 to this many characters.
_FILLER_LONGEST = 15
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_FILLER_TABLE = bytes.maketrans(bytes(range(256)), bytes(_ALNUM[i % 62] for i in range(256)))
# A letter or digit -> its place in _ALNUM.
_ALNUM_INDEX: Mapping[int, int] = MappingProxyType(
    {byte: index for index, byte in enumerate(_ALNUM)}
)


def iter_chunks(
    body: Mapping[str, Any],
    *,
    include_usage: bool,
    chunking: str = "tokens",
    chunk_size: int = 1,
    tokenizer: Tokenizer | None = None,
    obfuscation: bool = False,
) -> Iterator[dict[str, Any]]:
    """The chunks of ``body`` in order (module docstring).

    ``chunking`` is ``tokens`` (``chunk_size`` tokens per content delta) or ``chars``
    (``chunk_size`` characters). ``tokenizer`` splits text that has no logprobs tokens;
    pass the model's (``Generator.tokenizer_for(model)``) so chunks match the usage counts.
    ``obfuscation``: every chunk ends with an ``obfuscation`` filler (:func:`fillers`).
    """
    parts = _parts(body, chunking, chunk_size, tokenizer, encoded=False)
    envelope = _envelope(body)
    filler = fillers(body) if obfuscation else None
    for part in parts:
        yield _chunk(envelope, [part], include_usage, None, filler)
    for extra in _closing(body, include_usage):
        yield _chunk(envelope, [], include_usage, extra, filler)


def fillers(body: Mapping[str, Any]) -> Iterator[str]:
    """The ``obfuscation`` fillers of ``body``'s stream, one a chunk: 1 to 15 random
    letters and digits (OpenAI pads chunks against length side channels), drawn from
    a generator seeded with the reply's id, so they follow the request's seed."""
    return (filler.decode() for filler in _filler_bytes(body))


def _filler_bytes(body: Mapping[str, Any]) -> Iterator[bytes]:
    """:func:`fillers` as ASCII bytes: 64 fillers from one draw of random bytes (a
    draw per chunk would cost more than the rest of the chunk)."""
    rng = random.Random(str(body.get("id")))
    size = _FILLER_LONGEST + 1
    while True:
        block = rng.randbytes(64 * size).translate(_FILLER_TABLE)
        for start in range(0, 64 * size, size):
            # The first byte (a letter or digit, 62 values) sets the length.
            yield block[start + 1 : start + 2 + _ALNUM_INDEX[block[start]] % _FILLER_LONGEST]


def _chunk(
    envelope: Mapping[str, Any],
    choices: list[Any],
    include_usage: bool,
    extra: Mapping[str, Any] | None,
    filler: Iterator[str] | None,
) -> dict[str, Any]:
    """One chunk, its keys in the API's order: the envelope, ``choices``, ``usage``
    (with ``include_usage``), a closing chunk's own key, ``obfuscation``."""
    chunk = {**envelope, "choices": choices}
    if include_usage:
        chunk["usage"] = None
    if extra:
        chunk.update(extra)
    if filler is not None:
        chunk["obfuscation"] = next(filler)
    return chunk


def _closing(body: Mapping[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    """What the chunks after the choices' carry (each with ``choices: []``): the usage
    (``include_usage``), then a moderated completion's ``moderation``."""
    if include_usage:
        yield {"usage": body.get("usage")}
    if body.get("moderation") is not None:
        yield {"moderation": body["moderation"]}


@dataclass(frozen=True, slots=True)
class ChunkJson:
    """The chunks of one stream as compact JSON, the envelope encoded once.

    Chunk ``i`` is ``head + parts[i] + tail``: ``head`` is the envelope up to and
    including ``"choices":[``, each part one choice's JSON, ``tail`` closes the list
    and the object. ``after`` are the chunks that follow (usage, moderation).
    Iterating gives each chunk's bytes in order: byte for byte ``orjson.dumps`` of
    what :func:`iter_chunks` yields for the same arguments.
    """

    head: bytes
    parts: list[bytes]
    tail: bytes
    after: tuple[bytes, ...]

    def __iter__(self) -> Iterator[bytes]:
        head, tail = self.head, self.tail
        for part in self.parts:
            yield head + part + tail
        yield from self.after


def chunk_json(
    body: Mapping[str, Any],
    *,
    include_usage: bool,
    chunking: str = "tokens",
    chunk_size: int = 1,
    tokenizer: Tokenizer | None = None,
    obfuscation: bool = False,
) -> ChunkJson:
    """The chunks of :func:`iter_chunks` (same arguments), encoded: what a stream sends,
    with the envelope encoded once rather than in every chunk."""
    parts = _parts(body, chunking, chunk_size, tokenizer, encoded=True)
    envelope = _envelope(body)
    dumps = orjson.dumps
    # Compact JSON is the same text wherever a value sits, so a choice encoded alone
    # is the bytes it has inside its chunk.
    head = dumps({**envelope, "choices": []})[:-2]
    tail = b"]" + (b',"usage":null' if include_usage else b"")
    raw = _filler_bytes(body) if obfuscation else None
    if raw is None:
        tail += b"}"
    else:  # each chunk's own filler closes its part (letters and digits: no escaping)
        opening = tail + b',"obfuscation":"'
        parts = [part + opening + next(raw) + b'"}' for part in parts]
        tail = b""
    filler = (piece.decode() for piece in raw) if raw is not None else None
    after = tuple(
        dumps(_chunk(envelope, [], include_usage, extra, filler))
        for extra in _closing(body, include_usage)
    )
    return ChunkJson(head, parts, tail, after)


def _envelope(body: Mapping[str, Any]) -> dict[str, Any]:
    """The keys every chunk of ``body``'s stream carries before ``choices``, in the
    API's order (``provider``, a gateway's, after them)."""
    envelope: dict[str, Any] = {}
    for key in _ENVELOPE_KEYS:
        if key in body:
            envelope[key] = body[key]
    envelope["object"] = "chat.completion.chunk"
    if body.get("provider") is not None:
        envelope["provider"] = body["provider"]
    return envelope


def _parts(
    body: Mapping[str, Any],
    chunking: str,
    chunk_size: int,
    tokenizer: Tokenizer | None,
    *,
    encoded: bool,
) -> list[Any]:
    """Each chunk's one choice (``{index, delta, logprobs, finish_reason}``), in order:
    one part of each choice in turn, as OpenAI interleaves them (n > 1). ``encoded``:
    each part as its JSON bytes, else as a dict."""
    if chunking not in ("tokens", "chars"):
        raise ValueError(f"chunking must be 'tokens' or 'chars', not {chunking!r}")
    split = (tokenizer or ApproxTokenizer()).split
    size = max(int(chunk_size), 1)
    lists = [_choice_parts(choice, split, chunking, size, encoded) for choice in body["choices"]]
    if len(lists) == 1:
        return lists[0]
    return [
        parts[turn]
        for turn in range(max(map(len, lists), default=0))
        for parts in lists
        if turn < len(parts)
    ]


def _choice_parts(
    choice: Mapping[str, Any], split: Any, chunking: str, size: int, encoded: bool
) -> list[Any]:
    index = choice["index"]
    message = choice["message"]
    logprobs = choice.get("logprobs")
    # A choice without a logprobs key (a model that returns none) streams none either.
    keyed = "logprobs" in choice
    encode = orjson.dumps if encoded else _as_is
    text_parts = _text_parts_json if encoded else _text_parts

    def part(delta: dict[str, Any], probs: Any = None) -> Any:
        if not keyed:
            return encode({"index": index, "delta": delta, "finish_reason": None})
        return encode({"index": index, "delta": delta, "logprobs": probs, "finish_reason": None})

    content = message.get("content")
    refusal = message.get("refusal")
    # The API opens with {role, content: "", refusal: null}; content null for a reply
    # without text, refusal "" for a refusal.
    opening: dict[str, Any] = {
        "role": "assistant",
        "content": "" if content is not None else None,
        "refusal": "" if refusal is not None else None,
    }
    # A reply that is only calls opens with its first call's header in the same delta.
    calls = list(message.get("tool_calls") or ())
    legacy = message.get("function_call")
    bare = (
        content is None
        and refusal is None
        and not message.get("reasoning")
        and not message.get("audio")
    )
    opening_probs: dict[str, list[Any] | None] | None = None
    if logprobs is not None:
        # An empty list opens the accumulator's lists, so later chunks extend them.
        opening_probs = {
            key: ([] if logprobs.get(key) is not None else None) for key in ("content", "refusal")
        }
    parts = [part(opening, opening_probs)]

    reasoning = message.get("reasoning")
    if reasoning:
        parts += text_parts(index, "reasoning", _texts(reasoning, split, chunking, size), keyed)

    for key in ("content", "refusal"):
        text = message.get(key)
        if not text:
            continue
        entries = (logprobs or {}).get(key)
        if entries is None:
            parts += text_parts(index, key, _texts(text, split, chunking, size), keyed)
        else:  # {"content": ..., "refusal": ...}, this key's entries in its place
            parts += [
                part({key: piece}, {"content": None, "refusal": None, key: probs})
                for piece, probs in _pieces(text, entries, split, chunking, size)
            ]

    if message.get("annotations"):
        parts.append(part({"annotations": message["annotations"]}))

    audio = message.get("audio")
    if audio:
        parts += [part({"audio": piece}) for piece in _audio_pieces(audio, split, size)]

    for position, call in enumerate(calls):
        # A custom tool's call carries `custom: {name, input}` where a function's
        # carries `function: {name, arguments}`.
        key, field = (
            ("custom", "input") if call.get("type") == "custom" else ("function", "arguments")
        )
        inner = call[key]
        header = {
            "tool_calls": [
                {
                    "index": position,
                    "id": call["id"],
                    "type": call.get("type", "function"),
                    key: {"name": inner["name"], field: ""},
                }
            ]
        }
        if position == 0 and bare and len(parts) == 1:
            parts[0] = part({**opening, **header}, opening_probs)
        else:
            parts.append(part(header))
        parts += [
            part({"tool_calls": [{"index": position, key: {field: piece}}]})
            for piece in _texts(inner.get(field) or "", split, chunking, size)
        ]

    if legacy:  # the 2023 form: the name first, then the arguments in pieces
        named = {"function_call": {"name": legacy["name"], "arguments": ""}}
        if bare and not calls and len(parts) == 1:
            parts[0] = part({**opening, **named}, opening_probs)
        else:
            parts.append(part(named))
        parts += [
            part({"function_call": {"arguments": piece}})
            for piece in _texts(legacy.get("arguments") or "", split, chunking, size)
        ]

    last: dict[str, Any] = {
        "index": index,
        "delta": {},
        "logprobs": None,
        "finish_reason": choice.get("finish_reason") or "stop",
    }
    if not keyed:
        del last["logprobs"]
    parts.append(encode(last))
    return parts


def _as_is(part: dict[str, Any]) -> dict[str, Any]:
    return part


def _text_parts(
    index: int, key: str, pieces: Sequence[str], keyed: bool = True
) -> list[dict[str, Any]]:
    """The parts of a text without logprobs: one ``{key: piece}`` delta a piece
    (``keyed``: with ``"logprobs": null``)."""
    if not keyed:
        return [{"index": index, "delta": {key: piece}, "finish_reason": None} for piece in pieces]
    return [
        {"index": index, "delta": {key: piece}, "logprobs": None, "finish_reason": None}
        for piece in pieces
    ]


def _text_parts_json(
    index: int, key: str, pieces: Sequence[str], keyed: bool = True
) -> list[bytes]:
    """:func:`_text_parts` encoded: only each piece is encoded, between the bytes
    around it, which are the same in every one of them."""
    dumps = orjson.dumps
    before = b'{"index":' + dumps(index) + b',"delta":{' + dumps(key) + b":"
    after = b'},"logprobs":null,"finish_reason":null}' if keyed else b'},"finish_reason":null}'
    return [before + dumps(piece) + after for piece in pieces]


def _texts(text: str, split: Any, chunking: str, size: int) -> Sequence[str]:
    """``text`` cut into pieces of ``size`` characters or tokens."""
    if chunking == "chars":
        return [text[start : start + size] for start in range(0, len(text), size)]
    tokens: Sequence[str] = split(text)
    if size == 1:
        return tokens
    return ["".join(tokens[start : start + size]) for start in range(0, len(tokens), size)]


def _pieces(
    text: str, entries: Sequence[Mapping[str, Any]] | None, split: Any, chunking: str, size: int
) -> Iterator[tuple[str, list[Any]]]:
    """(piece of ``text``, logprobs entries of the tokens that end inside it)."""
    if not entries:  # no tokens to place: cut the text alone
        for piece in _texts(text, split, chunking, size):
            yield piece, []
        return
    tokens = [e["token"] for e in entries] if entries else None
    if tokens is None or "".join(tokens) != text:
        tokens = split(text)
        entries = entries if entries and len(entries) == len(tokens) else None
    if chunking == "tokens":
        for start in range(0, len(tokens), size):
            piece = "".join(tokens[start : start + size])
            yield piece, list(entries[start : start + size]) if entries else []
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
    for piece in _texts(transcript, split, "tokens", size):
        yield {"transcript": piece}
    data = audio.get("data") or ""
    for start in range(0, len(data), _AUDIO_PIECE):
        yield {"data": data[start : start + _AUDIO_PIECE]}
    if audio.get("expires_at") is not None:
        yield {"expires_at": audio["expires_at"]}
