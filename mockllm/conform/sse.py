"""The stream rules of the chat completions wire format (wire-format.md 4), written once.

mockllm's own stream tests and ``mockllm conform`` both judge streams with this module,
so "a correct stream" has one definition. Three parts:

* ``StreamReader`` takes the raw lines of an SSE body one at a time (as the client reads
  them) and checks the framing: each event is ``data: <json>`` ended by a blank line,
  and the stream ends with ``data: [DONE]`` and nothing after it.
* ``analyse(chunks, include_usage=...)`` checks the ``chat.completion.chunk`` rules and
  accumulates the chunks into the ``chat.completion`` a client would build:

  - ``id``: every chunk is a ``chat.completion.chunk`` with the same ``id`` and ``created``;
  - ``role``: each choice's first delta has ``role: assistant`` and no later one has a role
    (OpenAI's SDK concatenates strings: a repeated role becomes ``assistantassistant``);
  - ``finish``: each choice gets exactly one chunk with a known ``finish_reason``, and
    nothing after it;
  - ``tool_calls``: every tool-call delta has an integer ``index``; the first delta of each
    call carries its ``id``, ``type`` and ``function.name``, later ones only ``arguments``;
  - ``usage`` (with ``stream_options.include_usage``): exactly one chunk has a usage, it is
    the last, and its ``choices`` is ``[]``.

  Accumulation follows the SDK where it is well defined (strings concatenate, lists extend,
  tool calls merge by ``index``) and keeps the first ``role``, ``id`` and ``name`` where a
  server repeats them: each problem is reported once, by its own rule.
* ``shape(message)`` / ``shape_differences(a, b)``: a message as the kinds of its values
  (``content: string``, ``tool_calls: [{id: string, ...}]``), so a stream can be compared
  with the plain reply to the same request even when a model words them differently.
  ``None``, ``[]`` and ``{}`` count as absent: OpenAI's streams send no empty annotations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "FINISH_REASONS",
    "Rule",
    "StreamAnalysis",
    "StreamReader",
    "analyse",
    "read_stream",
    "shape",
    "shape_differences",
]

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_DONE = "[DONE]"


class Rule(StrEnum):
    """The stream rules; every problem found is filed under exactly one."""

    FRAMING = "framing"
    DONE = "done"
    ID = "id"
    ROLE = "role"
    FINISH = "finish"
    TOOL_CALLS = "tool_calls"
    USAGE = "usage"


def _shown(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


class StreamReader:
    """SSE framing, fed one raw line at a time; collects the JSON chunks in order.

    Follows the SSE parsing rules the SDKs use: ``field: value`` lines (one optional space
    after the colon), ``:`` comments, a blank line ends an event, several ``data`` lines of
    one event join with newlines. ``[DONE]`` is the data of the last event.
    """

    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.problems: dict[Rule, list[str]] = {}
        self.events = 0
        self._done = False
        self._data: list[str] = []
        self._line = 0

    @property
    def finished(self) -> bool:
        """True once ``data: [DONE]`` arrived."""
        return self._done

    def feed(self, line: bytes) -> None:
        """One line of the body, with or without its line ending."""
        self._line += 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self._problem(Rule.FRAMING, f"line {self._line} is not UTF-8")
            return
        text = text.rstrip("\n").rstrip("\r")
        if not text:
            self._dispatch()
            return
        if text.startswith(":"):
            return  # a comment (keep-alive)
        name, colon, value = text.partition(":")
        if not colon:
            self._problem(
                Rule.FRAMING,
                f"line {self._line} {_shown(text)} is not an SSE field "
                "(each event is 'data: <json>' and a blank line)",
            )
            return
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        elif name not in ("event", "id", "retry"):
            self._problem(Rule.FRAMING, f"line {self._line}: unknown SSE field {name!r}")

    def end(self, note: str | None = None) -> None:
        """The body is over; ``note`` says why when it broke off or timed out."""
        if self._data:
            self._problem(
                Rule.FRAMING,
                "the body ended inside an event (no blank line after "
                f"{_shown(self._data[-1], 40)}); SSE drops such an event",
            )
            self._dispatch()
        if not self._done:
            how = f": {note}" if note else ""
            self._problem(
                Rule.DONE,
                f"no 'data: [DONE]' event: the stream ended after {self.events} event(s){how}",
            )

    def _dispatch(self) -> None:
        if not self._data:
            return
        data = "\n".join(self._data)
        self._data = []
        self.events += 1
        if self._done:
            self._problem(
                Rule.DONE,
                f"event {self.events} {_shown(data, 60)} comes after "
                "[DONE]: [DONE] must be the last event",
            )
            return
        if data.strip() == _DONE:
            if data != _DONE:
                self._problem(Rule.FRAMING, f"[DONE] written as {_shown(data)}")
            self._done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            self._problem(Rule.FRAMING, f"event {self.events} is not JSON: {_shown(data)}")
            return
        if not isinstance(chunk, dict):
            self._problem(Rule.FRAMING, f"event {self.events} is not a JSON object: {_shown(data)}")
            return
        if chunk.get("error"):
            self._problem(
                Rule.FRAMING, f"event {self.events} is an error: {_shown(chunk['error'])}"
            )
        self.chunks.append(chunk)

    def _problem(self, rule: Rule, message: str) -> None:
        self.problems.setdefault(rule, []).append(message)


def read_stream(body: bytes | Iterable[bytes]) -> StreamReader:
    """A ``StreamReader`` fed a whole body (bytes) or its lines, and ended."""
    reader = StreamReader()
    lines = body.splitlines(keepends=True) if isinstance(body, bytes) else body
    for line in lines:
        reader.feed(line)
    reader.end()
    return reader


@dataclass(frozen=True, slots=True)
class StreamAnalysis:
    """What ``analyse`` found: problems by rule, and the accumulated ``chat.completion``."""

    problems: Mapping[Rule, tuple[str, ...]]
    completion: dict[str, Any]
    tool_fragments: int = 0

    def about(self, *rules: Rule) -> list[str]:
        """The problems filed under ``rules``, in rule order."""
        return [message for rule in rules for message in self.problems.get(rule, ())]


class _Analyser:
    """One pass over the chunks: checks every rule and accumulates the completion."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.problems: dict[Rule, list[str]] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.opened: set[int] = set()
        self.repeated_roles: dict[int, int] = {}
        self.finishes: dict[int, list[int]] = {}
        self.after_finish: dict[int, int] = {}
        self.calls: dict[tuple[int, int], dict[str, Any]] = {}
        self.fragments = 0
        self.unindexed: list[int] = []
        self.repeated: dict[tuple[int, int, str], int] = {}

    def problem(self, rule: Rule, message: str) -> None:
        self.problems.setdefault(rule, []).append(message)

    def run(self, chunks: Sequence[Mapping[str, Any]]) -> StreamAnalysis:
        self.envelope(chunks)
        usage_at = [n for n, c in enumerate(chunks) if isinstance(c.get("usage"), dict)]
        for number, chunk in enumerate(chunks, 1):
            parts = chunk.get("choices")
            if not isinstance(parts, list):
                self.problem(Rule.FINISH, f"chunk {number} has no choices list")
                continue
            for part in parts:
                self.choice_part(number, part)
        self.close_choices()
        self.close_tool_calls()
        if self.include_usage:
            self.usage(chunks, usage_at)
        first = chunks[0] if chunks else {}
        completion: dict[str, Any] = {
            "id": first.get("id"),
            "object": "chat.completion",
            "created": first.get("created"),
            "model": first.get("model"),
            "choices": [self.choices[i] for i in sorted(self.choices)],
            "usage": chunks[usage_at[-1]]["usage"] if usage_at else None,
        }
        for choice in completion["choices"]:
            for call in choice["message"].get("tool_calls") or ():
                call.pop("index", None)
        return StreamAnalysis(
            problems={rule: tuple(found) for rule, found in self.problems.items()},
            completion=completion,
            tool_fragments=self.fragments,
        )

    def envelope(self, chunks: Sequence[Mapping[str, Any]]) -> None:
        ids = list(dict.fromkeys(str(c.get("id")) for c in chunks))
        if any(not isinstance(c.get("id"), str) or not c.get("id") for c in chunks):
            missing = sum(not isinstance(c.get("id"), str) or not c.get("id") for c in chunks)
            self.problem(Rule.ID, f"{missing} of {len(chunks)} chunks have no id")
        if len(ids) > 1:
            shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            self.problem(
                Rule.ID,
                f"{len(ids)} different ids in {len(chunks)} chunks ({shown}): "
                "every chunk carries the one id of the completion",
            )
        created = list(dict.fromkeys(repr(c.get("created")) for c in chunks))
        if len(created) > 1:
            self.problem(Rule.ID, f"'created' changes between chunks ({', '.join(created[:3])})")
        objects = sorted({repr(c.get("object")) for c in chunks} - {"'chat.completion.chunk'"})
        if objects:
            self.problem(
                Rule.ID, f"chunks with object {', '.join(objects)}, not 'chat.completion.chunk'"
            )

    def choice_part(self, number: int, part: Any) -> None:
        if not isinstance(part, dict):
            self.problem(Rule.FINISH, f"chunk {number}: a choice that is not an object")
            return
        index = part.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            self.problem(Rule.FINISH, f"chunk {number}: a choice without an integer index")
            index = 0
        entry = self.choices.setdefault(
            index, {"index": index, "message": {}, "logprobs": None, "finish_reason": None}
        )
        delta = part.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        if index in self.finishes and (delta or part.get("finish_reason") is None):
            self.after_finish[index] = self.after_finish.get(index, 0) + 1
        if index not in self.opened:
            self.opened.add(index)
            if delta.get("role") != "assistant":
                self.problem(
                    Rule.ROLE,
                    f"choice {index} opens without role 'assistant' (first delta: {_shown(delta)})",
                )
        elif "role" in delta:
            self.repeated_roles[index] = self.repeated_roles.get(index, 0) + 1
        self.merge(entry["message"], index, number, delta)
        logprobs = part.get("logprobs")
        if isinstance(logprobs, dict):
            entry["logprobs"] = _merge(entry["logprobs"], logprobs)
        reason = part.get("finish_reason")
        if reason is not None:
            self.finishes.setdefault(index, []).append(number)
            if reason not in FINISH_REASONS:
                self.problem(Rule.FINISH, f"choice {index}: unknown finish_reason {reason!r}")
            if entry["finish_reason"] is None:
                entry["finish_reason"] = reason

    def merge(
        self, message: dict[str, Any], index: int, number: int, delta: Mapping[str, Any]
    ) -> None:
        for key, value in delta.items():
            if key == "role":
                message.setdefault("role", value)
            elif key == "tool_calls" and isinstance(value, list):
                calls = message.setdefault("tool_calls", [])
                for fragment in value:
                    self.tool_fragment(calls, index, number, fragment)
            elif value is None:
                message.setdefault(key, None)
            else:
                message[key] = _merge(message.get(key), value)

    def tool_fragment(
        self, calls: list[dict[str, Any]], choice: int, number: int, fragment: Any
    ) -> None:
        self.fragments += 1
        if not isinstance(fragment, dict):
            self.problem(
                Rule.TOOL_CALLS, f"chunk {number}: a tool_calls entry that is not an object"
            )
            return
        position = fragment.get("index")
        if not isinstance(position, int) or isinstance(position, bool):
            self.unindexed.append(number)
            position = len(calls) if "id" in fragment or not calls else len(calls) - 1
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        key = (choice, position)
        call = self.calls.get(key)
        if call is None:
            call = {
                "index": position,
                "id": fragment.get("id"),
                "type": fragment.get("type"),
                "function": {"name": function.get("name"), "arguments": ""},
            }
            self.calls[key] = call
            calls.append(call)
            missing = [
                name
                for name, value in (
                    ("id", call["id"]),
                    ("type", call["type"]),
                    ("function.name", function.get("name")),
                )
                if not isinstance(value, str) or not value
            ]
            if missing:
                self.problem(
                    Rule.TOOL_CALLS,
                    f"choice {choice} tool call {position}: its first "
                    f"delta has no {', '.join(missing)}",
                )
        else:
            for name, there in (
                ("id", fragment.get("id")),
                ("function.name", function.get("name")),
            ):
                if there:
                    place = (choice, position, name)
                    self.repeated[place] = self.repeated.get(place, 0) + 1
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            self.problem(
                Rule.TOOL_CALLS,
                f"choice {choice} tool call {position}: arguments "
                f"{_shown(arguments)} is not a string",
            )
        elif arguments:
            call["function"]["arguments"] += arguments

    def close_tool_calls(self) -> None:
        if self.unindexed:
            first = ", ".join(map(str, self.unindexed[:3]))
            self.problem(
                Rule.TOOL_CALLS,
                f"{len(self.unindexed)} tool_calls delta(s) without an "
                f"integer index (chunk {first}"
                f"{', ...' if len(self.unindexed) > 3 else ''}): "
                "clients merge tool-call fragments by index",
            )
        for (choice, position, name), count in self.repeated.items():
            self.problem(
                Rule.TOOL_CALLS,
                f"choice {choice} tool call {position}: {name} repeated "
                f"in {count} later delta(s) (clients concatenate it)",
            )

    def close_choices(self) -> None:
        if not self.choices:
            self.problem(Rule.ROLE, "no choice ever opened (no chunk had a delta)")
            self.problem(Rule.FINISH, "no choice ever finished (no chunk had a finish_reason)")
        for index in sorted(self.choices):
            count = len(self.finishes.get(index, ()))
            if count == 0:
                self.problem(
                    Rule.FINISH, f"choice {index} never finishes (no chunk with a finish_reason)"
                )
            elif count > 1:
                self.problem(
                    Rule.FINISH,
                    f"choice {index} finishes {count} times (chunks "
                    f"{', '.join(map(str, self.finishes[index]))})",
                )
            if self.after_finish.get(index):
                self.problem(
                    Rule.FINISH,
                    f"choice {index} has {self.after_finish[index]} "
                    "delta(s) after its finish chunk",
                )
            if self.repeated_roles.get(index):
                self.problem(
                    Rule.ROLE,
                    f"choice {index}: role repeated in "
                    f"{self.repeated_roles[index]} later delta(s); clients "
                    "concatenate it ('assistantassistant')",
                )

    def usage(self, chunks: Sequence[Mapping[str, Any]], usage_at: list[int]) -> None:
        if not usage_at:
            self.problem(
                Rule.USAGE,
                "no chunk carries usage: with stream_options.include_usage "
                "the last chunk has choices [] and the usage",
            )
            return
        if len(usage_at) > 1:
            self.problem(
                Rule.USAGE,
                f"{len(usage_at)} chunks carry usage; only the last may "
                "(the others have usage null)",
            )
        last = usage_at[-1]
        if last != len(chunks) - 1:
            self.problem(
                Rule.USAGE, f"the usage chunk is chunk {last + 1} of {len(chunks)}, not the last"
            )
        if chunks[last].get("choices") != []:
            self.problem(
                Rule.USAGE,
                f"the usage chunk has choices {_shown(chunks[last].get('choices'), 60)}, not []",
            )


def analyse(chunks: Sequence[Mapping[str, Any]], *, include_usage: bool) -> StreamAnalysis:
    """Check ``chunks`` (parsed ``chat.completion.chunk`` dicts) and accumulate them."""
    return _Analyser(include_usage).run(chunks)


def _merge(old: Any, new: Any) -> Any:
    """``new`` added to ``old`` as the SDK's accumulator does: concatenate, extend, recurse."""
    if old is None:
        return json.loads(json.dumps(new)) if isinstance(new, dict | list) else new
    if isinstance(old, str) and isinstance(new, str):
        return old + new
    if isinstance(old, list) and isinstance(new, list):
        return old + new
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge(merged.get(key), value) if value is not None else merged.get(key)
        return merged
    return new


def shape(value: Any) -> Any:
    """``value`` as the kinds of its parts; ``None``, ``[]`` and ``{}`` members left out."""
    if isinstance(value, dict):
        return {
            key: shape(item)
            for key, item in sorted(value.items())
            if item is not None and item != [] and item != {}
        }
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def shape_differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where the shape ``got`` differs from ``expected``, one phrase per place."""
    where = path or "the message"
    if isinstance(expected, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(got)):
            place = f"{path}.{key}" if path else key
            if key not in got:
                out.append(f"{place} missing (the plain reply has {_kind(expected[key])})")
            elif key not in expected:
                out.append(f"{place} is {_kind(got[key])}, which the plain reply has not")
            else:
                out.extend(shape_differences(expected[key], got[key], place))
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where} has {len(got)} item(s), the plain reply {len(expected)}"]
        return [
            d
            for n, (a, b) in enumerate(zip(expected, got, strict=True))
            for d in shape_differences(a, b, f"{path}[{n}]")
        ]
    if expected != got:
        return [f"{where} is {_kind(got)}, in the plain reply {_kind(expected)}"]
    return []


def _kind(shaped: Any) -> str:
    if isinstance(shaped, dict):
        return "an object"
    if isinstance(shaped, list):
        return f"a list of {len(shaped)}"
    return f"a {shaped}"
