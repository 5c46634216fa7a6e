"""Responses streams: a ``response`` object -> its typed events, in the documented order.

``response.created`` and ``response.in_progress`` carry the in-progress snapshot; each
output item opens with ``response.output_item.added`` and closes with ``.done``;
between them a message's parts (``content_part.added``, ``output_text.delta``s with
their ``annotation.added`` where a citation's span ends, ``output_text.done``,
``content_part.done``), a reasoning item's summary parts, a function call's
``function_call_arguments.delta``s and ``.done``; the stream ends with
``response.completed`` (or ``response.incomplete``). Every event names its ``type``
on an ``event:`` line and carries a ``sequence_number`` counting from 0. There is no
``[DONE]``. A stream that fails midway sends an ``error`` event, then ``response.failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from ...errors import APIError
from ..chat.errors import openai_error
from ..sse import named_event

__all__ = ["ResponseEvents", "events"]

Split = Callable[[str], Sequence[str]]


class ResponseEvents:
    """The events of one Responses stream (an ``EventStream``)."""

    __slots__ = ("_events", "_sent", "_snapshot")

    end = b""

    def __init__(self, events: list[dict[str, Any]], snapshot: Mapping[str, Any]) -> None:
        self._events = events
        self._snapshot = snapshot
        self._sent = 0

    def dicts(self) -> list[dict[str, Any]]:
        """The events as dicts, in order."""
        return self._events

    def __iter__(self) -> Iterator[bytes]:
        for event in self._events:
            self._sent = event["sequence_number"] + 1
            yield named_event(event["type"], orjson.dumps(event))

    def whole(self) -> bytes:
        """Every event in one piece."""
        return b"".join(named_event(e["type"], orjson.dumps(e)) for e in self._events)

    def error_event(self, error: APIError) -> bytes:
        """An ``error`` event (the nested form real traffic sends), then ``response.failed``."""
        number = self._sent
        detail = openai_error(error)
        failed = {
            **self._snapshot,
            "status": "failed",
            "error": {"code": detail["code"] or "server_error", "message": detail["message"]},
        }
        return named_event(
            "error", orjson.dumps({"type": "error", "sequence_number": number, "error": detail})
        ) + named_event(
            "response.failed",
            orjson.dumps(
                {"type": "response.failed", "sequence_number": number + 1, "response": failed}
            ),
        )

    def cut_event(self, event: bytes | None) -> bytes:
        """``event`` cut inside its JSON, as a broken proxy would pass it on."""
        if event is None:
            event = named_event("response.completed", b'{"type":"response.completed"}')
        return event[:-12] + b"\n\n"


def events(
    response: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    split: Split,
    chunking: str = "tokens",
    chunk_size: int = 1,
) -> ResponseEvents:
    """The stream of ``response`` (``snapshot`` its in-progress form); texts are cut
    into pieces of ``chunk_size`` tokens (``split``) or characters."""
    size = max(int(chunk_size), 1)

    def pieces(text: str) -> list[str]:
        if chunking == "chars":
            return [text[i : i + size] for i in range(0, len(text), size)]
        tokens = split(text)
        return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]

    out: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": len(out), **fields})

    emit("response.created", response=snapshot)
    emit("response.in_progress", response=snapshot)
    for index, item in enumerate(response["output"]):
        kind = item["type"]
        if kind == "message":
            _message(emit, index, item, pieces, size)
        elif kind == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for number, part in enumerate(item["summary"]):
                where = {"item_id": item["id"], "output_index": index, "summary_index": number}
                emit(
                    "response.reasoning_summary_part.added",
                    **where,
                    part={"type": "summary_text", "text": ""},
                )
                for piece in pieces(part["text"]):
                    emit("response.reasoning_summary_text.delta", **where, delta=piece)
                emit("response.reasoning_summary_text.done", **where, text=part["text"])
                emit("response.reasoning_summary_part.done", **where, part=part)
            emit("response.output_item.done", output_index=index, item=item)
        elif kind == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in pieces(item["arguments"]):
                emit(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            emit(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            emit("response.output_item.done", output_index=index, item=item)
        else:  # an item with nothing to stream: added, then done
            emit("response.output_item.added", output_index=index, item=item)
            emit("response.output_item.done", output_index=index, item=item)
    terminal = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    emit(terminal, response=response)
    return ResponseEvents(out, snapshot)


def _message(
    emit: Callable[..., None],
    index: int,
    item: Mapping[str, Any],
    pieces: Callable[[str], list[str]],
    size: int,
) -> None:
    """A message item's events: each part opened, its text in deltas, closed."""
    emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    for number, part in enumerate(item["content"]):
        where = {"item_id": item["id"], "output_index": index, "content_index": number}
        if part["type"] == "refusal":
            emit("response.content_part.added", **where, part={"type": "refusal", "refusal": ""})
            for piece in pieces(part["refusal"]):
                emit("response.refusal.delta", **where, delta=piece)
            emit("response.refusal.done", **where, refusal=part["refusal"])
        else:
            emit(
                "response.content_part.added",
                **where,
                part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            )
            _text_deltas(emit, where, part, pieces, size)
            emit(
                "response.output_text.done",
                **where,
                text=part["text"],
                logprobs=[_unbytes(p) for p in part["logprobs"]],
            )
        emit("response.content_part.done", **where, part=part)
    emit("response.output_item.done", output_index=index, item=item)


def _text_deltas(
    emit: Callable[..., None],
    where: Mapping[str, Any],
    part: Mapping[str, Any],
    pieces: Callable[[str], list[str]],
    size: int,
) -> None:
    """``output_text.delta``s (with their tokens' logprobs), and each citation's
    ``annotation.added`` once the text up to its end has been sent."""
    text = part["text"]
    probs = part["logprobs"]
    if probs and "".join(p["token"] for p in probs) == text:
        cut = [
            (
                "".join(p["token"] for p in probs[i : i + size]),
                [_unbytes(p) for p in probs[i : i + size]],
            )
            for i in range(0, len(probs), size)
        ]
    else:
        cut = [(piece, []) for piece in pieces(text)]
    notes = sorted(enumerate(part["annotations"]), key=lambda n: n[1].get("end_index", 0))
    sent = 0
    for piece, entries in cut:
        emit("response.output_text.delta", **where, delta=piece, logprobs=entries)
        sent += len(piece)
        while notes and notes[0][1].get("end_index", 0) <= sent:
            number, note = notes.pop(0)
            emit(
                "response.output_text.annotation.added",
                **where,
                annotation_index=number,
                annotation=note,
            )
    for number, note in notes:
        emit(
            "response.output_text.annotation.added",
            **where,
            annotation_index=number,
            annotation=note,
        )


def _unbytes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A logprob entry as a stream event carries it (no ``bytes``)."""
    return {
        "token": entry["token"],
        "logprob": entry["logprob"],
        "top_logprobs": [
            {"token": t["token"], "logprob": t["logprob"]} for t in entry.get("top_logprobs") or ()
        ],
    }
