"""The battery of ``mockllm conform``: every check by name, what it sends, what it expects.

Each check is a function of a ``Session`` (the client, the model, and the answers that
the run has already fetched: several checks read one answer) that returns a ``Verdict``.
A check says ``fail`` with what it expected and what came back, or ``unsupported`` when
the server declines a feature that servers may leave out (``Check.optional``: audio,
logprobs). Bodies are judged with mockllm's own definitions: the generated ChatResponse
schema (``mockllm.validation.ResponseValidator``) and the stream rules of
``mockllm.conform.sse``. docs/conform.md lists the checks; a test keeps it complete.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from jsonschema import validators

from ..errors import Mismatch, NotOffered
from ..validation import ResponseValidator
from .client import Answer, Client, ClientError
from .sse import Rule, StreamAnalysis, StreamReader, analyse, shape, shape_differences

__all__ = [
    "CHECKS",
    "Check",
    "Mismatch",
    "NotOffered",
    "Session",
    "Status",
    "Verdict",
    "city_schema",
    "sdk_error",
    "tool_parameters",
]

CHAT = "/chat/completions"
SEED = 7
HELLO = "Say hello in one short sentence."


class Status(StrEnum):
    """How a check came out."""

    PASS = "pass"
    FAIL = "fail"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A check's outcome: what it expected and what came back."""

    status: Status
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class Check:
    """One named check of the battery."""

    name: str
    description: str
    run: Callable[[Session], Verdict]
    # A feature servers may leave out: declining it is "unsupported" unless --require names it.
    optional: bool = False


# ---------------------------------------------------------------------------- requests


def tool_parameters() -> dict[str, dict[str, Any]]:
    """The tools the battery offers, by name: their ``parameters`` schemas (fresh copies)."""
    return {
        "get_weather": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
        "get_time": {
            "type": "object",
            "properties": {"zone": {"type": "string", "minLength": 1}},
            "required": ["zone"],
        },
    }


def city_schema() -> dict[str, Any]:
    """The ``json_schema`` the battery asks replies to follow (a fresh copy)."""
    return {
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["name", "population"],
        "additionalProperties": False,
    }


def _requests() -> dict[str, dict[str, Any]]:
    """Every request of the battery by name, less ``model`` (added by the session)."""
    hello = {"messages": [{"role": "user", "content": HELLO}], "seed": SEED}
    weather = {
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "seed": SEED,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": f"{name.replace('_', ' ').capitalize()}.",
                    "parameters": parameters,
                },
            }
            for name, parameters in tool_parameters().items()
        ],
    }
    required = {**weather, "tool_choice": "required"}
    return {
        "plain": hello,
        "n2": {**hello, "n": 2},
        "stop": {
            "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
            "seed": SEED,
            "stop": ["e"],
        },
        "length": {
            "messages": [
                {"role": "user", "content": "Write a long story about a lighthouse keeper."}
            ],
            "seed": SEED,
            "max_completion_tokens": 5,
        },
        "stream": {**hello, "stream": True},
        "stream_usage": {**hello, "stream": True, "stream_options": {"include_usage": True}},
        "tools_named": {
            **weather,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        "tools_required": required,
        "tools_auto": {**weather, "tool_choice": "auto"},
        "tools_stream": {**required, "stream": True},
        "json_object": {
            "messages": [
                {
                    "role": "user",
                    "content": "Describe Paris as a JSON object with the keys city and country.",
                }
            ],
            "seed": SEED,
            "response_format": {"type": "json_object"},
        },
        "json_schema": {
            "messages": [
                {"role": "user", "content": "Give the name and population of Paris as JSON."}
            ],
            "seed": SEED,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "city", "strict": True, "schema": city_schema()},
            },
        },
        "logprobs": {**hello, "logprobs": True, "top_logprobs": 2},
        "audio": {
            **hello,
            "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "wav"},
        },
        "bad_temperature": {**hello, "temperature": 3},
        "no_messages": {"seed": SEED},
        "messages_not_a_list": {"messages": HELLO, "seed": SEED},
    }


@dataclass(frozen=True, slots=True)
class _Streamed:
    """A streamed answer: the HTTP answer, its framing, and the chunk rules' findings."""

    answer: Answer
    reader: StreamReader
    analysis: StreamAnalysis

    def about(self, *rules: Rule) -> list[str]:
        """Problems of the framing and of the chunks filed under ``rules``."""
        framing = [m for rule in rules for m in self.reader.problems.get(rule, ())]
        return framing + self.analysis.about(*rules)

    @property
    def completion(self) -> dict[str, Any]:
        """The chunks accumulated into a chat.completion."""
        return self.analysis.completion


class Session:
    """What one run's checks share: the client, the model, the answers fetched so far."""

    def __init__(self, client: Client, model: str, validator: ResponseValidator) -> None:
        self.client = client
        self.model = model
        self.validator = validator
        self.parameters = tool_parameters()
        self._requests = _requests()
        # Answers by request name, and the requests that got none (not asked twice either).
        self._answers: dict[str, Answer] = {}
        self._streams: dict[str, _Streamed] = {}
        self._unanswered: dict[str, ClientError] = {}

    def body(self, request: str) -> dict[str, Any]:
        """The body the battery sends as ``request``."""
        return {"model": self.model, **self._requests[request]}

    def answer(self, request: str) -> Answer:
        """The answer to ``request`` (asked once per run)."""
        if request not in self._answers:
            self._answers[request] = self._ask(request, lambda body: self.client.post(CHAT, body))
        return self._answers[request]

    def reply(self, request: str) -> dict[str, Any]:
        """The 200 JSON object answering ``request``; anything else fails the check."""
        return _json_object(self.answer(request), f"a 200 JSON reply to the {request} request")

    def stream(self, request: str) -> _Streamed:
        """The streamed answer to ``request`` (asked once per run); not a 200 fails."""
        if request not in self._streams:
            reader = StreamReader()
            answer = self._ask(request, lambda body: self.client.stream(CHAT, body, reader))
            include_usage = bool(
                self._requests[request].get("stream_options", {}).get("include_usage")
            )
            self._streams[request] = _Streamed(
                answer, reader, analyse(reader.chunks, include_usage=include_usage)
            )
        streamed = self._streams[request]
        if streamed.answer.status != 200:
            raise Mismatch(
                f"a 200 stream answering the {request} request",
                f"{streamed.answer.status}: {streamed.answer.excerpt()}",
            )
        return streamed

    def _ask(self, request: str, send: Callable[[dict[str, Any]], Answer]) -> Answer:
        if request in self._unanswered:
            raise self._unanswered[request]
        try:
            return send(self.body(request))
        except ClientError as exc:
            self._unanswered[request] = exc
            raise


# ----------------------------------------------------------------------------- helpers


def _shown(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_object(answer: Answer, expected: str) -> dict[str, Any]:
    if answer.status != 200:
        raise Mismatch(expected, f"{answer.status}: {answer.excerpt()}")
    try:
        body = answer.json()
    except ValueError:
        raise Mismatch(expected, f"200 with a body that is not JSON: {answer.excerpt()}") from None
    if not isinstance(body, dict):
        raise Mismatch(expected, f"200 with JSON that is not an object: {answer.excerpt()}")
    return body


def _offered(answer: Answer, feature: str, expected: str) -> dict[str, Any]:
    """The reply to an optional feature's request; a 4xx means the server declines it."""
    if 400 <= answer.status < 500:
        raise NotOffered(
            expected, f"{answer.status}, the server declines {feature}: {answer.excerpt()}"
        )
    return _json_object(answer, expected)


def _choices(reply: Mapping[str, Any], expected: str) -> list[dict[str, Any]]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices:
        raise Mismatch(expected, f"choices {_shown(choices)}")
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        raise Mismatch(expected, f"a choice without a message: {_shown(choices)}")
    return choices


def _first_choice(reply: Mapping[str, Any], expected: str) -> dict[str, Any]:
    return _choices(reply, expected)[0]


def _finish_problems(choice: Mapping[str, Any], want: str, why: str = "") -> list[str]:
    """[] when the choice finished with ``want``, else the finish_reason it had (and why)."""
    reason = choice.get("finish_reason")
    return [] if reason == want else [f"finish_reason {_shown(reason)}{': ' if why else ''}{why}"]


def _text_problems(choice: Mapping[str, Any], label: str = "content") -> list[str]:
    """[] when the choice's message has non-empty text content."""
    content = choice["message"].get("content")
    return [] if isinstance(content, str) and content else [f"{label} {_shown(content)}"]


def _judge(expected: str, problems: Sequence[str], got: str) -> Verdict:
    """``fail`` naming every problem, or ``pass`` saying what came back."""
    if problems:
        more = f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        return Verdict(Status.FAIL, expected, "; ".join(problems[:4]) + more)
    return Verdict(Status.PASS, expected, got)


def _usage_problems(usage: Any) -> list[str]:
    """Why ``usage`` is not a usage whose total is prompt + completion ([] when it is)."""
    if not isinstance(usage, dict):
        return [f"usage is {_shown(usage)}, not an object"]
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    bad = [
        n
        for n in names
        if not isinstance(usage.get(n), int) or isinstance(usage.get(n), bool) or usage[n] < 0
    ]
    if bad:
        return [f"usage {', '.join(bad)} not a count: {_shown(usage)}"]
    prompt, completion, total = (usage[n] for n in names)
    if total != prompt + completion:
        return [
            f"usage does not add up: total_tokens {total} != prompt_tokens {prompt} + "
            f"completion_tokens {completion} (= {prompt + completion})"
        ]
    return []


def _judge_usage(expected: str, usage: Any, problems: Sequence[str] = ()) -> Verdict:
    """``problems`` and the usage's own, or ``pass`` showing the sum that adds up."""
    found = [*problems, *(_usage_problems(usage) if usage is not None or not problems else [])]
    if found:
        return _judge(expected, found, "")
    return _judge(
        expected,
        [],
        f"{usage['prompt_tokens']} + {usage['completion_tokens']} = {usage['total_tokens']} tokens",
    )


def _calls_problems(calls: Sequence[Any], offered: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why the tool calls are not calls of offered tools with valid JSON arguments."""
    return [problem for call in calls for problem in _call_problems(call, offered)]


def _call_problems(call: Any, offered: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return [f"tool call {_shown(call)} has no function"]
    function = call["function"]
    name = function.get("name")
    problems = [] if isinstance(call.get("id"), str) and call["id"] else ["a tool call without id"]
    if name not in offered:
        return [*problems, f"a call to {name!r}, which the request did not offer"]
    try:
        arguments = json.loads(function.get("arguments") or "")
    except (TypeError, ValueError):
        return [*problems, f"{name} arguments {_shown(function.get('arguments'))} are not JSON"]
    schema = offered[name]
    errors = sorted(validators.validator_for(schema)(schema).iter_errors(arguments), key=str)
    problems += [f"{name} arguments {_shown(arguments, 60)}: {error.message}" for error in errors]
    return problems


def _calls_text(calls: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"{c['function'].get('name')}({c['function'].get('arguments')})" for c in calls
    )


def sdk_error(body: bytes) -> Mapping[str, Any] | None:
    """The error an openai SDK makes of an error body, or None when it finds no fields.

    As openai-python does (wire-format.md 5.4): parse the body as JSON and take
    ``body.get("error", body)``; ``code``, ``param`` and ``type`` are read from that object.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    data = parsed.get("error", parsed) if isinstance(parsed, dict) else None
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------------------ checks


def _plain_schema(session: Session) -> Verdict:
    expected = "a reply valid against mockllm's ChatResponse schema"
    errors = session.validator.validate(session.reply("plain"))
    shown = [f"{e.param or e.field_name or 'body'}: {e.message}" for e in errors[:3]]
    if len(errors) > 3:
        shown.append(f"{len(errors) - 3} more")
    return _judge(expected, shown, "valid")


def _plain_envelope(session: Session) -> Verdict:
    expected = "object 'chat.completion', a non-empty string id, created in unix seconds"
    reply = session.reply("plain")
    problems = []
    if reply.get("object") != "chat.completion":
        problems.append(f"object {_shown(reply.get('object'))}")
    if not isinstance(reply.get("id"), str) or not reply["id"]:
        problems.append(f"id {_shown(reply.get('id'))}")
    created = reply.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 1e9 < created < 1e10:
        problems.append(f"created {_shown(created)} (not unix seconds)")
    return _judge(expected, problems, f"id {reply.get('id')!r}, created {created}")


def _plain_model(session: Session) -> Verdict:
    expected = f"model {session.model!r} echoed (a dated or tagged variant of it is fine)"
    model = session.reply("plain").get("model")
    ok = isinstance(model, str) and model.startswith(session.model)
    return _judge(expected, [] if ok else [f"model {_shown(model)}"], f"model {model!r}")


def _plain_usage(session: Session) -> Verdict:
    return _judge_usage(
        "usage with total_tokens = prompt_tokens + completion_tokens",
        session.reply("plain").get("usage"),
    )


def _plain_message(session: Session) -> Verdict:
    expected = "one choice, index 0: an assistant message with text, finish_reason 'stop'"
    choices = _choices(session.reply("plain"), expected)
    choice = choices[0]
    message = choice["message"]
    problems = []
    if len(choices) != 1:
        problems.append(f"{len(choices)} choices")
    if choice.get("index") != 0:
        problems.append(f"index {_shown(choice.get('index'))}")
    if message.get("role") != "assistant":
        problems.append(f"role {_shown(message.get('role'))}")
    problems += _text_problems(choice) + _finish_problems(choice, "stop")
    return _judge(
        expected,
        problems,
        f"{_shown(message.get('content'), 60)}, finish_reason {choice.get('finish_reason')!r}",
    )


def _n2(session: Session) -> Verdict:
    expected = "n=2: two choices, index 0 and 1, each an assistant message with text"
    choices = _choices(session.reply("n2"), expected)
    problems = []
    indexes = [c.get("index") for c in choices]
    if indexes != [0, 1]:
        problems.append(f"{len(choices)} choice(s) with index {_shown(indexes)}")
    for choice in choices:
        problems += _text_problems(choice, f"choice {choice.get('index')} content")
    return _judge(expected, problems, f"choices with index {indexes}")


def _stop(session: Session) -> Verdict:
    expected = "stop ['e']: text that ends before the first 'e', finish_reason 'stop'"
    choice = _first_choice(session.reply("stop"), expected)
    content = choice["message"].get("content")
    problems = []
    if not isinstance(content, str):
        problems.append(f"content {_shown(content)}")
    elif "e" in content:
        problems.append(f"content {_shown(content, 60)} goes on past the stop sequence")
    problems += _finish_problems(choice, "stop")
    return _judge(expected, problems, f"{_shown(content, 60)}, finish_reason 'stop'")


def _length(session: Session) -> Verdict:
    expected = "max_completion_tokens 5: finish_reason 'length', at most 5 completion tokens"
    reply = session.reply("length")
    choice = _first_choice(reply, expected)
    problems = _finish_problems(choice, "length")
    usage = reply.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(tokens, int) and tokens > 5:
        problems.append(f"{tokens} completion tokens")
    return _judge(
        expected,
        problems,
        f"{_shown(choice['message'].get('content'), 60)}, "
        f"{tokens} completion tokens, finish_reason 'length'",
    )


def _stream_content_type(session: Session) -> Verdict:
    answer = session.stream("stream").answer
    ok = answer.content_type == "text/event-stream"
    return _judge(
        "Content-Type text/event-stream",
        [] if ok else [f"Content-Type {answer.headers.get('content-type')!r}"],
        answer.headers.get("content-type", ""),
    )


def _stream_rule(request: str, rule: Rule, expected: str, session: Session) -> Verdict:
    streamed = session.stream(request)
    problems = streamed.about(rule)
    if rule is Rule.FRAMING and not streamed.reader.chunks and not problems:
        problems = ["no chunk at all"]
    return _judge(expected, problems, f"{len(streamed.reader.chunks)} chunks as expected")


def _stream_accumulate(session: Session) -> Verdict:
    expected = (
        "the chunks accumulate to the plain reply's choices: same message shape and finish_reason"
    )
    plain = _choices(session.reply("plain"), "a plain reply to compare with")
    got = session.stream("stream").completion["choices"]
    problems = []
    if len(got) != len(plain):
        problems.append(f"{len(got)} choice(s) streamed, {len(plain)} in the plain reply")
    for want, have in zip(plain, got, strict=False):
        where = f"choice {want.get('index')}: "
        problems += [
            where + d for d in shape_differences(shape(want["message"]), shape(have["message"]))
        ]
        if want.get("finish_reason") != have.get("finish_reason"):
            problems.append(
                f"{where}finish_reason {have.get('finish_reason')!r}, in the plain "
                f"reply {want.get('finish_reason')!r}"
            )
    return _judge(
        expected, problems, f"the same shape: {_shown(shape(got[0]['message']))}" if got else ""
    )


def _stream_usage(session: Session) -> Verdict:
    expected = (
        "stream_options.include_usage: one last chunk with choices [] and a usage that adds up"
    )
    streamed = session.stream("stream_usage")
    return _judge_usage(expected, streamed.completion["usage"], streamed.about(Rule.USAGE))


def _tool_calls(reply: Mapping[str, Any], expected: str) -> tuple[dict[str, Any], list[Any]]:
    choice = _first_choice(reply, expected)
    calls = choice["message"].get("tool_calls")
    if not isinstance(calls, list) or not calls:
        raise Mismatch(
            expected,
            f"no tool call: content {_shown(choice['message'].get('content'))}"
            f", finish_reason {_shown(choice.get('finish_reason'))}",
        )
    return choice, calls


def _judge_calls(
    expected: str,
    session: Session,
    choice: Mapping[str, Any],
    calls: Sequence[Any],
    finish: str,
    why: str,
    problems: Sequence[str] = (),
) -> Verdict:
    """Tool calls of offered tools with valid arguments, finishing with ``finish``."""
    found = [
        *problems,
        *_calls_problems(calls, session.parameters),
        *_finish_problems(choice, finish, why),
    ]
    return _judge(expected, found, f"{_calls_text(calls)}, finish_reason {finish!r}")


def _tools_named(session: Session) -> Verdict:
    expected = "a call of get_weather with valid arguments, finish_reason 'stop'"
    choice, calls = _tool_calls(session.reply("tools_named"), expected)
    others = [
        f"a call of {c['function'].get('name')!r}, not of the named get_weather"
        for c in calls
        if isinstance(c, dict)
        and isinstance(c.get("function"), dict)
        and c["function"].get("name") != "get_weather"
    ]
    return _judge_calls(
        expected,
        session,
        choice,
        calls,
        "stop",
        "OpenAI answers 'stop' when tool_choice names the function",
        others,
    )


def _tools_required(session: Session) -> Verdict:
    expected = "tool_choice 'required': a call with valid arguments, finish_reason 'tool_calls'"
    choice, calls = _tool_calls(session.reply("tools_required"), expected)
    return _judge_calls(
        expected,
        session,
        choice,
        calls,
        "tool_calls",
        "OpenAI answers 'tool_calls' for tool_choice 'required'",
    )


def _tools_auto(session: Session) -> Verdict:
    expected = "tool_choice 'auto': a call with finish_reason 'tool_calls', or text with 'stop'"
    choice = _first_choice(session.reply("tools_auto"), expected)
    calls = choice["message"].get("tool_calls")
    if not calls:
        problems = _finish_problems(choice, "stop", "a text answer finishes with 'stop'")
        return _judge(expected, problems, f"text, finish_reason {choice.get('finish_reason')!r}")
    if not isinstance(calls, list):
        raise Mismatch(expected, f"tool_calls {_shown(calls)}")
    return _judge_calls(
        expected,
        session,
        choice,
        calls,
        "tool_calls",
        "OpenAI answers 'tool_calls' when the model chose to call a tool",
    )


def _tools_stream(session: Session) -> Verdict:
    expected = (
        "streamed tool_choice 'required': deltas with index, id and name once, "
        "arguments that accumulate to valid JSON, finish_reason 'tool_calls'"
    )
    streamed = session.stream("tools_stream")
    problems = streamed.about(Rule.TOOL_CALLS)
    if not streamed.analysis.tool_fragments:
        problems.append("no tool_calls delta in the stream")
    choices = streamed.completion["choices"]
    if not choices:
        raise Mismatch(expected, "; ".join([*problems, "a stream without choices"]))
    calls = choices[0]["message"].get("tool_calls") or []
    return _judge_calls(
        expected,
        session,
        choices[0],
        calls,
        "tool_calls",
        "as the plain reply to tool_choice 'required'",
        problems,
    )


def _content_json(session: Session, request: str, expected: str) -> tuple[Any, str]:
    choice = _first_choice(session.reply(request), expected)
    content = choice["message"].get("content")
    try:
        return json.loads(content), content
    except (TypeError, ValueError):
        raise Mismatch(expected, f"content {_shown(content)} is not JSON") from None


def _json_object_check(session: Session) -> Verdict:
    expected = "response_format json_object: content that parses as a JSON object"
    value, content = _content_json(session, "json_object", expected)
    problems = [] if isinstance(value, dict) else [f"content {_shown(content)} is not an object"]
    return _judge(expected, problems, _shown(content, 80))


def _json_schema_check(session: Session) -> Verdict:
    expected = "response_format json_schema: content that is JSON valid against the schema"
    value, content = _content_json(session, "json_schema", expected)
    schema = city_schema()
    problems = [
        f"{_shown(content, 60)}: {error.message}"
        for error in validators.validator_for(schema)(schema).iter_errors(value)
    ]
    return _judge(expected, problems, _shown(content, 80))


def _logprobs(session: Session) -> Verdict:
    expected = (
        "logprobs with top_logprobs 2: an entry per token (token, logprob <= 0, bytes, "
        "at most 2 top_logprobs) whose tokens make the content"
    )
    choice = _first_choice(_offered(session.answer("logprobs"), "logprobs", expected), expected)
    logprobs = choice.get("logprobs")
    if logprobs is None:
        raise NotOffered(expected, "logprobs null: the server does not return them")
    entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(entries, list) or not entries:
        raise Mismatch(expected, f"logprobs {_shown(logprobs)}")
    problems = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            problems.append(f"entry {n} {_shown(entry, 60)} has no token")
            continue
        if not isinstance(entry.get("logprob"), int | float) or entry["logprob"] > 0:
            problems.append(f"entry {n} logprob {_shown(entry.get('logprob'))}")
        raw = entry.get("bytes")
        if raw is not None and not (
            isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw)
        ):
            problems.append(f"entry {n} bytes {_shown(raw, 40)} is not a list of byte values")
        top = entry.get("top_logprobs")
        if not isinstance(top, list) or len(top) > 2:
            problems.append(f"entry {n} top_logprobs {_shown(top, 60)}")
    tokens = "".join(
        e["token"] for e in entries if isinstance(e, dict) and isinstance(e.get("token"), str)
    )
    content = choice["message"].get("content")
    if not problems and tokens != content:
        problems.append(
            f"the tokens make {_shown(tokens, 50)}, the content is {_shown(content, 50)}"
        )
    return _judge(expected, problems, f"{len(entries)} entries matching the content")


def _audio(session: Session) -> Verdict:
    expected = (
        "modalities text+audio, format wav: message.audio with id, base64 WAV data, "
        "expires_at and transcript"
    )
    reply = _offered(session.answer("audio"), "audio output", expected)
    audio = _first_choice(reply, expected)["message"].get("audio")
    if not audio:
        raise NotOffered(expected, "no message.audio: the server does not speak")
    if not isinstance(audio, dict):
        raise Mismatch(expected, f"message.audio {_shown(audio)}")
    problems = []
    if not isinstance(audio.get("id"), str) or not audio["id"]:
        problems.append(f"audio id {_shown(audio.get('id'))}")
    try:
        data = base64.b64decode(audio.get("data") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        data = b""
        problems.append("audio data is not base64")
    if data and not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        problems.append(f"audio data is not a WAV file (starts {data[:12]!r})")
    elif not data and not problems:
        problems.append("no audio data")
    if not isinstance(audio.get("expires_at"), int):
        problems.append(f"expires_at {_shown(audio.get('expires_at'))}")
    if not isinstance(audio.get("transcript"), str):
        problems.append(f"transcript {_shown(audio.get('transcript'))}")
    return _judge(
        expected,
        problems,
        f"{len(data)} bytes of WAV, transcript {_shown(audio.get('transcript'), 40)}",
    )


def _invalid(request: str, param: str, what: str, session: Session) -> Verdict:
    expected = f"{what}: a 4xx whose body the openai SDK reads as an error with param {param!r}"
    answer = session.answer(request)
    if not 400 <= answer.status < 500:
        raise Mismatch(expected, f"{answer.status}: {answer.excerpt()}")
    error = sdk_error(answer.body)
    if error is None:
        raise Mismatch(
            expected, f"{answer.status} with a body the SDK finds no error in: {answer.excerpt()}"
        )
    found = error.get("param")
    said = "no param the SDK can read" if found is None else f"param {_shown(found)}"
    problems = [] if found == param else [f"{answer.status} with {said}: {answer.excerpt()}"]
    return _judge(
        expected, problems, f"{answer.status}, param {param!r}, {_shown(error.get('message'), 60)}"
    )


def _unknown_route(session: Session) -> Verdict:
    expected = "a 404 with a body saying so"
    answer = session.client.get("/mockllm-conform/no-such-route")
    problems = (
        []
        if answer.status == 404 and answer.body.strip()
        else [f"{answer.status}: {answer.excerpt() or 'an empty body'}"]
    )
    return _judge(expected, problems, f"404: {answer.excerpt(60)}")


CHECKS: tuple[Check, ...] = (
    Check(
        "plain.schema", "the plain reply validates against the ChatResponse schema", _plain_schema
    ),
    Check(
        "plain.envelope",
        "object 'chat.completion', an id, created in unix seconds",
        _plain_envelope,
    ),
    Check("plain.model", "the reply names the requested model", _plain_model),
    Check("plain.usage", "usage: total_tokens = prompt_tokens + completion_tokens", _plain_usage),
    Check(
        "plain.message", "one assistant message with text and finish_reason 'stop'", _plain_message
    ),
    Check("n2", "n=2 gives two choices, index 0 and 1", _n2),
    Check("stop", "a stop sequence cuts the text, finish_reason 'stop'", _stop),
    Check("length", "max_completion_tokens cuts the text, finish_reason 'length'", _length),
    Check("stream.content_type", "a stream is text/event-stream", _stream_content_type),
    Check(
        "stream.framing",
        "every event is 'data: <json>' and a blank line",
        partial(_stream_rule, "stream", Rule.FRAMING, "every event 'data: <json>' + blank line"),
    ),
    Check(
        "stream.id",
        "every chunk is a chat.completion.chunk with the same id and created",
        partial(
            _stream_rule,
            "stream",
            Rule.ID,
            "every chunk a chat.completion.chunk with one id and one created",
        ),
    ),
    Check(
        "stream.role",
        "role 'assistant' in each choice's first delta only",
        partial(_stream_rule, "stream", Rule.ROLE, "role 'assistant' in the first delta only"),
    ),
    Check(
        "stream.finish",
        "exactly one finish_reason chunk per choice, nothing after it",
        partial(
            _stream_rule,
            "stream",
            Rule.FINISH,
            "exactly one finish_reason chunk per choice, nothing after it",
        ),
    ),
    Check(
        "stream.done",
        "the stream ends with 'data: [DONE]'",
        partial(_stream_rule, "stream", Rule.DONE, "'data: [DONE]' as the last event"),
    ),
    Check(
        "stream.accumulate",
        "the stream accumulates to the plain reply's message shape",
        _stream_accumulate,
    ),
    Check(
        "stream.include_usage",
        "include_usage: a last chunk with choices [] and usage",
        _stream_usage,
    ),
    Check("tools.named", "a named tool_choice: that call, finish_reason 'stop'", _tools_named),
    Check(
        "tools.required",
        "tool_choice 'required': a call, finish_reason 'tool_calls'",
        _tools_required,
    ),
    Check(
        "tools.auto",
        "tool_choice 'auto': finish_reason 'tool_calls' exactly when calling",
        _tools_auto,
    ),
    Check(
        "tools.stream", "streamed tool calls: index on every delta, id and name once", _tools_stream
    ),
    Check("json.object", "response_format json_object: a JSON object", _json_object_check),
    Check(
        "json.schema",
        "response_format json_schema: JSON valid against the schema",
        _json_schema_check,
    ),
    Check(
        "logprobs", "logprobs: per-token entries that make the content", _logprobs, optional=True
    ),
    Check(
        "audio",
        "audio output: a decodable WAV with id, expiry and transcript",
        _audio,
        optional=True,
    ),
    Check(
        "errors.temperature",
        "temperature 3: a 4xx with param 'temperature'",
        partial(_invalid, "bad_temperature", "temperature", "temperature 3"),
    ),
    Check(
        "errors.missing_messages",
        "no messages: a 4xx with param 'messages'",
        partial(_invalid, "no_messages", "messages", "no messages"),
    ),
    Check(
        "errors.wrong_type",
        "messages as a string: a 4xx with param 'messages'",
        partial(_invalid, "messages_not_a_list", "messages", "messages as a string"),
    ),
    Check("errors.unknown_route", "an unknown route: a 404 with a body", _unknown_route),
)
