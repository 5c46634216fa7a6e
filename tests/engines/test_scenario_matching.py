"""Conditions and lookups: each one true and false, on plain request dicts."""

from __future__ import annotations

from typing import Any

import pytest

from mockllm.errors import BadRequestError, ConditionError
from mockllm.scenario_engine.conditions import (
    LOOKUPS,
    Overrides,
    RequestView,
    compile_json_path,
    compile_lookups,
    default_registry,
    message_text,
    parse_overrides,
)
from mockllm.scenario_engine.loader import load_scenario_data


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [user("hello there")]}

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
TIME_TOOL = {"type": "function", "function": {"name": "get_time"}}

AGENT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        user("weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ],
    "tools": [WEATHER_TOOL, TIME_TOOL],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "stream": True,
    "response_format": {"type": "json_object"},
    "modalities": ["text", "audio"],
    "metadata": {"user": "alice", "team": "blue"},
    "temperature": 1.5,
}


def holds(
    when: dict[str, Any], body: dict[str, Any], headers: dict[str, str] | None = None
) -> bool:
    (scenario,) = load_scenario_data({"name": "s", "when": when})
    return scenario.match(RequestView(body, headers or {})) is not None


# One row per lookup, each with a subject it accepts and one it rejects.
LOOKUP_CASES = [
    ({"eq": "hello there"}, "hello there", "hello"),
    ({"contains": "lo th"}, "hello there", "goodbye"),
    ({"regex": r"^hel+o\b"}, "hello there", "help"),
    ({"startswith": "hell"}, "hello there", "oh hello"),
    ({"endswith": "there"}, "hello there", "there hello"),
    ({"in": ["hi", "hello there"]}, "hello there", "hey"),
    ({"exists": True}, "anything", None),
    ({"exists": False}, None, "anything"),
    ({"not": "hello"}, "hello there", "hello"),
    ({"not": {"contains": "bye"}}, "hello there", "goodbye"),
    ({"gt": 1}, 1.5, 1),
    ({"lt": 1}, 0.5, 1),
    ({"ge": 1}, 1, 0.9),
    ({"le": 1}, 1, 1.1),
    ({"contains": "x", "startswith": "a"}, "abx", "xab"),
]


def test_every_lookup_has_a_case() -> None:
    assert {name for spec, _, _ in LOOKUP_CASES for name in spec} == set(LOOKUPS)


@pytest.mark.parametrize(("spec", "good", "bad"), LOOKUP_CASES)
def test_lookup(spec: dict[str, Any], good: Any, bad: Any) -> None:
    lookups = compile_lookups(spec)
    assert all(lk.test(good) is not None for lk in lookups)
    assert not all(lk.test(bad) is not None for lk in lookups)
    # The explanation agrees with the test: a reason exactly when it fails.
    assert all(lk.explain("x", good) is None for lk in lookups)
    assert any(lk.explain("x", bad) for lk in lookups)


@pytest.mark.parametrize(
    ("operand", "subject", "expected"),
    [
        (True, True, True),
        (True, 1, False),  # bool is not an int here
        (1, True, False),
        (1, 1.0, True),
        (["text", "audio"], ["text", "audio"], True),
        (["text"], ["text", "audio"], False),
        ("audio", ["text", "audio"], True),  # a list subject: any element
        ("video", ["text", "audio"], False),
        (None, None, True),
    ],
)
def test_eq_semantics(operand: Any, subject: Any, expected: bool) -> None:
    (lookup,) = compile_lookups({"eq": operand})
    assert (lookup.test(subject) is not None) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"regex": "("}, "bad regex"),
        ({"gt": "x"}, "needs a number"),
        ({"in": "abc"}, "needs a list"),
        ({"exists": "yes"}, "true or false"),
        ({"startswith": 3}, "needs a string"),
        ({"like": "x"}, "unknown lookup 'like' (known: eq, contains, regex"),
        ({}, "no lookup given"),
        (["a", "b"], "a bare list is ambiguous"),
    ],
)
def test_bad_lookup_specs(spec: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        compile_lookups(spec)


# (condition, true-for-AGENT, false-for-AGENT); each condition appears at least once.
CONDITION_CASES: list[tuple[str, Any, Any]] = [
    ("model", "gpt-4o", "gpt-4o-mini"),
    ("model", {"startswith": "gpt-4"}, {"in": ["o3", "gpt-5"]}),
    ("last_user_message", {"contains": "Paris"}, {"contains": "London"}),
    ("any_message", {"contains": "sunny"}, {"contains": "rainy"}),
    ("system_message", {"regex": "terse(.|\\n)*metric"}, {"contains": "verbose"}),
    ("last_role", "tool", "user"),
    ("tools", "get_time", "get_stock"),
    ("tools", {"not": "get_stock"}, {"not": "get_weather"}),
    ("tools", {"exists": True}, {"exists": False}),
    ("tool_choice", "get_weather", "required"),
    ("tool_result", "get_weather", "get_time"),
    (
        "tool_result",
        {"name": "get_weather", "contains": "sunny"},
        {"name": "get_weather", "contains": "rain"},
    ),
    ("tool_result", {"regex": r"\d+C"}, {"regex": "F$"}),
    ("stream", True, False),
    ("response_format", "json_object", "json_schema"),
    ("modalities", "audio", "image"),
    ("modalities", {"eq": ["text", "audio"]}, {"eq": ["text"]}),
    ("metadata", "user", "tenant"),
    ("metadata", ["user", "team"], ["user", "tenant"]),
    ("metadata", {"user": "alice"}, {"user": "bob"}),
    ("metadata", {"team": {"in": ["blue", "red"]}}, {"team": {"in": ["green"]}}),
    ("headers", {"X-Tenant": "acme"}, {"x-tenant": "other"}),
    ("headers", "x-tenant", "x-missing"),
    ("turn", 1, {"gt": 1}),
    ("path", "/v1/chat/completions", {"startswith": "/api/"}),
    ("surface", "chat", {"in": ["responses", "messages"]}),
    ("json_path", {"path": "temperature", "gt": 1}, {"path": "temperature", "lt": 1}),
    ("json_path", "metadata.user", "metadata.tenant"),
    (
        "json_path",
        {"path": "messages[-1].role", "eq": "tool"},
        {"path": "messages[0].role", "eq": "user"},
    ),
    (
        "json_path",
        {"path": "messages[*].role", "eq": "developer"},
        {"path": "messages[*].role", "eq": "function"},
    ),
    (
        "json_path",
        [{"path": "stream", "eq": True}, "tools[1].function.name"],
        [{"path": "stream", "eq": True}, "tools[5]"],
    ),
]


def test_every_builtin_condition_has_a_case() -> None:
    assert {name for name, _, _ in CONDITION_CASES} == set(default_registry().names())


@pytest.mark.parametrize(("name", "good", "bad"), CONDITION_CASES)
def test_condition(name: str, good: Any, bad: Any) -> None:
    headers = {"X-Tenant": "acme"}
    assert holds({name: good}, AGENT, headers)
    assert not holds({name: bad}, AGENT, headers)


@pytest.mark.parametrize(
    ("when", "body"),
    [
        ({"stream": False}, BASE),  # absent stream is false
        ({"tool_choice": {"exists": False}}, BASE),
        ({"tools": {"exists": False}}, BASE),
        ({"last_user_message": "hello there"}, BASE),
        ({"turn": 2}, {"messages": [user("a"), {"role": "assistant", "content": "b"}, user("c")]}),
        (
            {"last_user_message": "look\nhere"},
            {
                "messages": [
                    user(
                        [
                            {"type": "text", "text": "look"},
                            {"type": "image_url", "image_url": {"url": "x"}},
                            {"type": "text", "text": "here"},
                        ]
                    )
                ]
            },
        ),
        ({"tool_choice": "required"}, {**BASE, "tool_choice": "required"}),
        # ServiceStack's DTO page spells the format type as response_format.
        (
            {"response_format": "json_object"},
            {**BASE, "response_format": {"response_format": "json_object"}},
        ),
        # A tool result names its tool even without the assistant's call, via `name`.
        (
            {"tool_result": "lookup"},
            {"messages": [{"role": "tool", "name": "lookup", "content": "x"}]},
        ),
    ],
)
def test_condition_edge_cases(when: dict[str, Any], body: dict[str, Any]) -> None:
    assert holds(when, body)


def test_a_malformed_body_fails_conditions_instead_of_raising() -> None:
    body = {"model": 3, "messages": "nope", "tools": "x", "metadata": [1]}
    for when in (
        {"last_user_message": "x"},
        {"tools": "x"},
        {"metadata": "x"},
        {"json_path": "messages[0].role"},
        {"last_role": "user"},
    ):
        assert not holds(when, body)


def test_regex_groups_are_returned() -> None:
    (scenario,) = load_scenario_data(
        {
            "name": "s",
            "when": {
                "last_user_message": {"regex": r"weather in (?P<city>\w+)(?: on (?P<day>\w+))?"}
            },
        }
    )
    groups = scenario.match(RequestView({"messages": [user("weather in Paris?")]}))
    assert groups == {"city": "Paris", "day": ""}
    assert scenario.group_names == {"city", "day"}


def test_explanations_name_condition_subject_and_lookup() -> None:
    (scenario,) = load_scenario_data(
        {
            "name": "s",
            "when": {
                "model": "gpt-4o-mini",
                "last_user_message": {"regex": r"weather in (?P<city>\w+)"},
                "tools": "get_weather",
                "headers": {"x-tenant": "acme"},
            },
        }
    )
    failed = scenario.failed_conditions(RequestView(BASE))
    reasons = {f["condition"]: f["reason"] for f in failed}
    assert set(reasons) == {"last_user_message", "tools", "headers"}
    assert reasons["last_user_message"] == (
        "last_user_message: 'hello there' does not match regex 'weather in (?P<city>\\\\w+)'"
    )
    assert "tools" in reasons["tools"] and "absent" in reasons["tools"]
    assert reasons["headers"].startswith("headers.x-tenant: absent")


def test_registry_is_extensible_and_per_instance() -> None:
    registry = default_registry()
    registry.register("user_count", lambda view: len(view.messages), "messages in the request")
    (scenario,) = load_scenario_data(
        {"name": "s", "when": {"user_count": {"ge": 2}}}, registry=registry
    )
    assert scenario.match(RequestView({"messages": [user("a"), user("b")]})) is not None
    assert scenario.match(RequestView(BASE)) is None
    assert "user_count" not in default_registry()


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("temperature", ("temperature",)),
        ("$.messages[-1].content", ("messages", -1, "content")),
        ("metadata['odd key']", ("metadata", "odd key")),
        ("tools[*].function.name", ("tools", None, "function", "name")),
    ],
)
def test_json_path_compiles(path: str, steps: tuple[Any, ...]) -> None:
    assert compile_json_path(path) == steps


@pytest.mark.parametrize("path", ["", "a..b", "a[x]", "a[0"])
def test_bad_json_path(path: str) -> None:
    with pytest.raises(ConditionError):
        compile_json_path(path)


def test_message_text() -> None:
    assert message_text({"content": "x"}) == "x"
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert message_text({"content": parts}) == "a\nb"
    assert message_text({"content": None}) is None
    assert message_text("not a message") is None


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, {}, Overrides()),
        ({"Prefer": "scenario=weather, seed=42"}, {}, Overrides("weather", 42)),
        ({"prefer": 'return=minimal, scenario="a b"; x=1'}, {}, Overrides("a b", None)),
        ({}, {"__scenario": "q", "__seed": "-7"}, Overrides("q", -7)),
        ({"Prefer": "seed=1"}, {"__scenario": "q", "__seed": "2"}, Overrides("q", 1)),
    ],
)
def test_parse_overrides(
    headers: dict[str, str], query: dict[str, str], expected: Overrides
) -> None:
    assert parse_overrides(headers, query) == expected


@pytest.mark.parametrize(
    ("headers", "query", "where"),
    [
        ({"Prefer": "seed=abc"}, {}, "Prefer: seed=abc"),
        ({}, {"__seed": "1.5"}, "?__seed=1.5"),
        ({"Prefer": "scenario="}, {}, "Prefer: scenario="),
    ],
)
def test_bad_overrides(headers: dict[str, str], query: dict[str, str], where: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_overrides(headers, query)
    assert str(info.value).startswith(where)
    assert info.value.param == "Prefer"
