"""The journal: queryable, and readable in logs and failure messages (its storage is the
state store's, tested in test_state_contract.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from mockllm.errors import BadRequestError, FieldError
from mockllm.journal import (
    Exchange,
    JournalQuery,
    describe_near_miss,
    near_miss_json,
    select,
    similar,
)


def _reply(content: str | None = None, tool: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool is not None:
        message["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": tool, "arguments": "{}"}}
        ]
    return {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}


def make(
    seq: int = 1,
    *,
    scenario: str | None = "greeting",
    model: str = "gpt-4o",
    path: str = "/v1/chat/completions",
    status: int = 200,
    response: Any = None,
    error: str | None = None,
    field_errors: tuple[FieldError, ...] = (),
    near_misses: tuple[Any, ...] = (),
    user: str = "Hello",
    error_code: str | None = None,
    raw_body: str | None = None,
) -> Exchange:
    body = (
        None
        if raw_body is not None
        else {"model": model, "messages": [{"role": "user", "content": user}]}
    )
    return Exchange(
        seq=seq,
        request_id=f"req_{seq}",
        time=1.0,
        method="POST",
        path=path,
        query={},
        headers={},
        body=body,
        raw_body=raw_body,
        field_errors=field_errors,
        scenario=scenario,
        near_misses=near_misses,
        status=status,
        response=response if response is not None or error else _reply("Hi there"),
        error=error,
        stream=False,
        duration_ms=1.25,
        error_code=error_code,
    )


TEMP = FieldError(
    "Temperature",
    "temperature",
    "InclusiveBetween",
    "invalid_value",
    "temperature must be between 0 and 2",
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (JournalQuery(), [1, 2, 3, 4]),
        (JournalQuery(scenario="weather"), [2, 4]),
        (JournalQuery(model="gpt-4o-mini"), [3]),
        (JournalQuery(status=429), [4]),
        (JournalQuery(path="/api/ChatCompletion"), [2]),
        (JournalQuery(scenario="weather", status=200), [2]),
        (JournalQuery(predicate=lambda e: "Paris" in (e.last_user_message or "")), [2, 4]),
        (JournalQuery(scenario="nope"), []),
    ],
)
def test_query_filters(query: JournalQuery, expected: list[int]) -> None:
    entries = [
        make(1),
        make(2, scenario="weather", path="/api/ChatCompletion", user="Paris?"),
        make(3, model="gpt-4o-mini"),
        make(4, scenario="weather", status=429, error="Rate limit", user="Paris!"),
    ]
    assert [e.seq for e in select(entries, query)] == expected
    assert [e.seq for e in select(entries, query, newest_first=True, limit=1)] == expected[-1:]


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({}, JournalQuery()),
        ({"scenario": "a", "status": "404"}, JournalQuery(scenario="a", status=404)),
        (
            {"model": "m", "path": "/p", "method": "POST"},
            JournalQuery(model="m", path="/p", method="POST"),
        ),
    ],
)
def test_query_from_url_params(params: dict[str, str], query: JournalQuery) -> None:
    assert JournalQuery.from_params(params) == query


def test_query_from_params_rejects_a_non_numeric_status() -> None:
    with pytest.raises(BadRequestError, match="status"):
        JournalQuery.from_params({"status": "ok"})


def test_similar_lists_the_nearest_misses_with_reasons() -> None:
    entries = [
        make(1, scenario="greeting", model="gpt-4o-mini"),  # misses both
        make(2, scenario="weather", model="gpt-4o-mini"),  # misses model only
        make(3, scenario="weather", model="gpt-4o"),
    ]  # matches
    near = similar(entries, JournalQuery(scenario="weather", model="gpt-4o"))
    assert [(e.seq, len(why)) for e, why in near] == [(2, 1), (1, 2)]
    assert "model is 'gpt-4o-mini', not 'gpt-4o'" in near[0][1]


@pytest.mark.parametrize(
    ("exchange", "summary"),
    [
        (make(response=_reply("Hello world")), "content: 'Hello world'"),
        (make(response=_reply(tool="get_weather")), "tool_calls: get_weather"),
        (make(response=_reply("x" * 200)), "content: '" + "x" * 59 + "…'"),
        (make(status=429, error="Rate limit reached"), "error: Rate limit reached"),
        (make(response=_reply(None)), "content: null"),
    ],
)
def test_reply_summary(exchange: Exchange, summary: str) -> None:
    assert exchange.reply_summary == summary


def test_log_line_is_one_line_and_verbose_adds_validation_details() -> None:
    exchange = make(status=400, scenario=None, error="bad temperature", field_errors=(TEMP,))
    line = exchange.log_line()
    assert "\n" not in line
    assert line.startswith("POST /v1/chat/completions 400 scenario=- ")
    assert line.endswith("1.2ms")
    verbose = exchange.log_line(verbose=True)
    assert verbose.startswith(line)
    assert "temperature: temperature must be between 0 and 2" in verbose
    assert "model: gpt-4o" in verbose


@dataclass(frozen=True)
class _Miss:
    scenario: str
    reasons: tuple[str, ...]


@pytest.mark.parametrize(
    ("near_miss", "text"),
    [
        (_Miss("weather", ("model is 'x'",)), "weather: model is 'x'"),
        ({"scenario": "greet", "reasons": ["no user message"]}, "greet: no user message"),
        ("plain text", "plain text"),
    ],
)
def test_near_misses_of_any_shape_are_described(near_miss: Any, text: str) -> None:
    assert describe_near_miss(near_miss) == text
    assert near_miss_json(near_miss) is not None


@pytest.mark.parametrize(
    ("exchange", "valid", "unmatched"),
    [
        (make(), True, False),
        (make(field_errors=(TEMP,), status=400), False, False),
        (make(raw_body="{oops", status=400), False, False),
        (make(status=404, scenario=None, error_code="NoScenarioMatched"), True, True),
        (make(status=404, scenario=None, near_misses=("a: b",)), True, False),
        (make(status=404, scenario=None, error_code="NotFound"), True, False),
    ],
)
def test_valid_and_unmatched(exchange: Exchange, valid: bool, unmatched: bool) -> None:
    assert exchange.valid is valid
    assert exchange.unmatched is unmatched


def test_to_json_is_serialisable_with_near_misses() -> None:
    import json

    exchange = make(near_misses=(_Miss("weather", ("no",)),), field_errors=(TEMP,))
    data = json.loads(json.dumps(exchange.to_json()))
    assert data["near_misses"] == [{"scenario": "weather", "reasons": ["no"]}]
    assert data["field_errors"][0]["param"] == "temperature"
    assert data["summary"] == exchange.reply_summary
