"""The scenario set: order, priority, times, sequences, conversations, overrides,
near misses, reload and the control-API operations."""

from __future__ import annotations

import time
from typing import Any

import pytest
from faker import Faker

from mockllm.errors import BadRequestError, NoScenarioMatchedError
from mockllm.scenario_engine.conditions import RequestView
from mockllm.scenario_engine.loader import load_scenario_data
from mockllm.scenario_engine.scenarioset import ScenarioSet
from mockllm.state import run_now


def scenarios(text: str) -> ScenarioSet:
    return ScenarioSet(load_scenario_data(text, "test.yaml"))


def ask(
    text: str,
    *,
    model: str = "gpt-4o-mini",
    headers: dict[str, str] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> RequestView:
    messages = [*(history or []), {"role": "user", "content": text}]
    return RequestView({"model": model, "messages": messages}, headers or {})


def content(scenario_set: ScenarioSet, view: RequestView, **kw: Any) -> Any:
    reply = run_now(scenario_set.resolve(view, **kw)).render(Faker())
    return None if reply is None else reply.get("content", reply.get("error"))


def test_first_match_in_load_order_and_priority_first() -> None:
    s = scenarios("""
- {name: a, when: {last_user_message: {contains: hi}}, reply: {content: A}}
- {name: b, when: {last_user_message: {contains: hi}}, reply: {content: B}}
- {name: low, priority: -5, reply: {content: LOW}}
- {name: c, priority: 3, when: {last_user_message: {contains: high}}, reply: {content: C}}
""")
    assert [x.name for x in s.scenarios] == ["c", "a", "b", "low"]
    assert content(s, ask("hi")) == "A"
    assert content(s, ask("high")) == "C"  # also matches a, but c has priority
    assert content(s, ask("bye")) == "LOW"


def test_times_then_skip_to_the_next() -> None:
    s = scenarios("""
- {name: once, times: 2, reply: {content: first}}
- {name: rest, reply: {content: rest}}
""")
    assert [content(s, ask("x")) for _ in range(4)] == ["first", "first", "rest", "rest"]
    resolution = run_now(s.resolve(ask("x")))
    assert resolution.near_misses[0]["scenario"] == "once"
    assert resolution.near_misses[0]["failed"][0]["condition"] == "times"


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("repeat_last", ["1", "2", "3", "3", "3"]),
        ("cycle", ["1", "2", "3", "1", "2"]),
        ("fail", ["1", "2", "3", "fail", "fail"]),
    ],
)
def test_sequence_after_modes(after: str, expected: list[str]) -> None:
    s = scenarios(f"""
name: seq
after: {after}
sequence: [{{content: "1"}}, {{content: "2"}}, {{content: "3"}}]
""")
    got = []
    for _ in expected:
        reply = run_now(s.resolve(ask("x"))).render(Faker())
        got.append("fail" if "error" in reply else reply["content"])
    assert got == expected
    if after == "fail":
        error = run_now(s.resolve(ask("x"))).render(Faker())["error"]
        assert error["status"] == 500 and "seq" in error["message"]


def test_sequence_with_times_and_default_steps() -> None:
    s = scenarios("""
- {name: seq, times: 2, sequence: [{content: one}, null]}
- {name: other, reply: {content: other}}
""")
    assert content(s, ask("x")) == "one"
    assert run_now(s.resolve(ask("x"))).render(Faker()) is None  # a null step = the default reply
    assert content(s, ask("x")) == "other"


AGENT_LOOP = """
name: agent
conversation: {key: header, header: X-Conversation-Id}
sequence:
  - {tool_calls: [{name: get_weather, arguments: {city: Paris}}]}
  - {content: "It is sunny."}
after: fail
"""


def test_two_interleaved_conversations_keep_their_own_position() -> None:
    s = scenarios(AGENT_LOOP)

    def step(conv: str) -> str:
        view = ask("weather?", headers={"x-conversation-id": conv})
        reply = run_now(s.resolve(view)).render(Faker())
        return "tool" if "tool_calls" in reply else reply.get("content") or "error"

    assert [step("a"), step("b"), step("a"), step("b"), step("a")] == [
        "tool",
        "tool",
        "It is sunny.",
        "It is sunny.",
        "error",
    ]
    assert run_now(s.uses())["agent"] == 5


def test_conversation_keyed_by_first_user_message() -> None:
    s = scenarios("""
name: count
conversation: {key: first_user_message}
times: 1
reply: {content: "{{ call }}"}
""")
    first = run_now(s.resolve(ask("plan a trip")))
    assert first.scenario_name == "count"
    # Same first message, later turn: same conversation, so `times` is used up.
    later = ask(
        "and back?",
        history=[
            {"role": "user", "content": "plan a trip"},
            {"role": "assistant", "content": "ok"},
        ],
    )
    assert run_now(s.resolve(later)).scenario_name is None
    assert run_now(s.resolve(ask("another chat"))).scenario_name == "count"


def test_prefer_override_forces_a_scenario_even_if_conditions_fail() -> None:
    s = scenarios("""
- {name: normal, reply: {content: normal}}
- name: special
  when: {last_user_message: {regex: "order (?P<num>\\\\d+)"}, model: gpt-5}
  times: 1
  reply: {content: "special {{ num }}"}
""")
    assert content(s, ask("order 42"), force="special") == "special 42"
    # Forcing ignores `times` too.
    assert content(s, ask("no order"), force="special") == "special "
    assert content(s, ask("order 1")) == "normal"
    with pytest.raises(BadRequestError, match="scenario=nope.*known: normal, special"):
        run_now(s.resolve(ask("x"), force="nope"))


NEAR = """
- name: weather
  when:
    model: gpt-4o-mini
    last_user_message: {regex: "weather in (?P<city>\\\\w+)"}
- name: greeting
  when:
    model: gpt-4o
    last_user_message: {startswith: hello}
    stream: true
- name: tools-only
  when: {tools: get_weather}
"""


def test_strict_no_match_lists_nearest_with_reasons() -> None:
    s = ScenarioSet(load_scenario_data(NEAR, "near.yaml"), strict=True)
    with pytest.raises(NoScenarioMatchedError) as info:
        run_now(s.resolve(ask("hello there")))
    misses = info.value.details["near_misses"]
    # half of weather held, a third of greeting (model failed, stream failed), none of tools-only
    assert [m["scenario"] for m in misses] == ["weather", "greeting", "tools-only"]
    assert misses[0]["source"] == "near.yaml:2"
    assert misses[0]["failed"] == [
        {
            "condition": "last_user_message",
            "reason": "last_user_message: 'hello there' does not match regex "
            "'weather in (?P<city>\\\\w+)'",
        }
    ]
    assert {f["condition"] for f in misses[1]["failed"]} == {"model", "stream"}
    message = str(info.value)
    assert "weather (near.yaml:2)" in message and "does not match regex" in message


FAR_AND_NEAR = (
    "".join(f"- {{name: far-{i}, when: {{model: other-{i}}}}}\n" for i in range(6))
    + """
- name: near
  when:
    model: gpt-4o-mini
    last_user_message: {contains: refund}
    tools: lookup_order
- name: halfway
  when: {model: gpt-4o-mini, tools: lookup_order}
- name: two-of-four
  when: {model: gpt-4o-mini, last_user_message: {contains: refund}, stream: true,
         tools: lookup_order}
"""
)


def test_near_misses_are_ranked_by_the_share_of_conditions_that_held() -> None:
    s = ScenarioSet(load_scenario_data(FAR_AND_NEAR, "near.yaml"), strict=True)
    with pytest.raises(NoScenarioMatchedError) as info:
        run_now(s.resolve(ask("I want a refund")))
    misses = info.value.details["near_misses"]
    # 2 of 3 held; then 1 of 2 and 2 of 4 (a half each: fewer failures first); then
    # the six that share nothing with the request, in resolution order
    assert [m["scenario"] for m in misses] == [
        "near",
        "halfway",
        "two-of-four",
        *(f"far-{i}" for i in range(6)),
    ]
    assert [f["condition"] for f in misses[0]["failed"]] == ["tools"]
    message = str(info.value)
    assert "- near (near.yaml:" in message.splitlines()[1]
    assert message.index("- near") < message.index("- far-0")
    assert s.explain(ask("I want a refund")) == misses


def test_non_strict_no_match_gives_default_and_keeps_explanation() -> None:
    s = scenarios(NEAR)
    resolution = run_now(s.resolve(ask("hello there")))
    assert resolution.scenario_name is None
    assert resolution.render(Faker()) is None
    assert resolution.near_misses[0]["scenario"] == "weather"


def test_deferred_near_misses_read_like_the_ranked_list() -> None:
    resolution = run_now(scenarios(NEAR).resolve(ask("hello there")))
    deferred = resolution.deferred_near_misses()
    ranked = resolution.near_misses
    assert len(deferred) == len(ranked) and list(deferred) == ranked
    assert deferred[0] == ranked[0] and list(deferred[:2]) == ranked[:2]
    assert [m["scenario"] for m in deferred][0] == "weather"


def test_matched_request_has_no_near_misses() -> None:
    s = scenarios(NEAR)
    resolution = run_now(s.resolve(ask("weather in Oslo")))
    assert resolution.scenario_name == "weather"
    assert resolution.near_misses == []


def test_replace_keeps_state_of_unchanged_scenarios_only() -> None:
    text = """
- {name: same, times: 1, reply: {content: same}}
- {name: edited, times: 1, when: {model: m}, reply: {content: v1}}
- {name: fallback, reply: {content: fallback}}
"""
    s = scenarios(text)
    assert content(s, ask("x")) == "same"
    assert content(s, ask("x", model="m")) == "v1"
    run_now(s.replace(load_scenario_data(text.replace("v1", "v2"), "test.yaml")))
    assert content(s, ask("x")) == "fallback"  # `same` stays used up
    assert content(s, ask("x", model="m")) == "v2"  # `edited` starts afresh


def test_add_remove_reset() -> None:
    s = scenarios("- {name: base, reply: {content: base}}")
    (extra,) = load_scenario_data({"name": "extra", "priority": 1, "reply": {"content": "extra"}})
    run_now(s.add([extra]))
    assert content(s, ask("x")) == "extra"
    assert run_now(s.remove("extra")) and not run_now(s.remove("extra"))
    assert content(s, ask("x")) == "base"
    run_now(s.add([extra]))
    run_now(s.reset())
    assert [x.name for x in s.scenarios] == ["base"]
    assert run_now(s.uses()).get("base", 0) == 0


def test_add_replaces_a_scenario_of_the_same_name() -> None:
    s = scenarios("- {name: a, times: 1, reply: {content: v1}}")
    assert content(s, ask("x")) == "v1"
    (same,) = load_scenario_data({"name": "a", "times": 1, "reply": {"content": "v1"}}, "test.yaml")
    run_now(s.add([same]))
    assert run_now(s.resolve(ask("x"))).scenario_name is None  # unchanged: still used up
    (changed,) = load_scenario_data({"name": "a", "times": 1, "reply": {"content": "v2"}})
    run_now(s.add([changed]))
    assert content(s, ask("x")) == "v2"


def test_index_keeps_order_across_buckets() -> None:
    s = scenarios("""
- {name: any1, when: {last_user_message: {contains: zzz}}}
- {name: by-model, when: {model: gpt-4o}, reply: {content: model}}
- {name: by-message, when: {last_user_message: hi}, reply: {content: message}}
- {name: by-list, when: {model: {in: [a, b]}}, reply: {content: list}}
- {name: any2, reply: {content: any}}
""")
    assert content(s, ask("hi", model="gpt-4o")) == "model"
    assert content(s, ask("hi", model="other")) == "message"
    assert content(s, ask("yo", model="b")) == "list"
    assert content(s, ask("yo", model="c")) == "any"


def _many(count: int) -> ScenarioSet:
    data = [
        {
            "name": f"s{i}",
            "when": {
                "model": f"model-{i}",
                "last_user_message": {"regex": rf"^ticket {i}-(?P<n>\d+)"},
            },
            "reply": {"content": f"ticket {i}"},
        }
        for i in range(count)
    ]
    return ScenarioSet(load_scenario_data(data))


def test_resolve_cost_does_not_grow_with_indexed_scenarios() -> None:
    small, large = _many(10), _many(2000)
    view_body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ticket 5-1"}]}

    def per_call(s: ScenarioSet) -> float:
        start = time.perf_counter()
        for _ in range(2000):
            assert run_now(s.resolve(RequestView(view_body, {}))).near_misses == []
        return (time.perf_counter() - start) / 2000

    assert per_call(large) < per_call(small) * 5 + 20e-6
    hit = RequestView(
        {"model": "model-1500", "messages": [{"role": "user", "content": "ticket 1500-7"}]}
    )
    assert content(large, hit) == "ticket 1500"
