"""Reply templates: variables in scope, seeded faker, typed arguments, the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from faker import Faker

from mockllm.errors import MockLLMError
from mockllm.scenario_engine.conditions import RequestView
from mockllm.scenario_engine.loader import load_scenario_data
from mockllm.scenario_engine.scenarioset import ScenarioSet
from mockllm.scenario_engine.templating import TemplateEngine
from mockllm.state import run_now

BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
    "metadata": {"user": "alice"},
}


def seeded(seed: int) -> Faker:
    faker = Faker()
    faker.seed_instance(seed)
    return faker


def render(scenario: dict[str, Any], *, seed: int = 1, body: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> Any:
    scenario_set = ScenarioSet(load_scenario_data(scenario))
    view = RequestView(body or BODY, headers or {})
    return run_now(scenario_set.resolve(view)).render(seeded(seed))


WEATHER = {
    "name": "weather",
    "when": {"last_user_message": {"regex": r"weather in (?P<city>\w+)"}},
    "reply": {"content": "It is {{ faker.random_int(5, 30) }}°C in {{ city }}"},
}


def test_groups_and_faker_render_and_are_seeded() -> None:
    first = render(WEATHER, seed=7)["content"]
    assert first.startswith("It is ") and first.endswith("°C in Paris")
    assert 5 <= int(first.split()[2].rstrip("°C")) <= 30
    assert render(WEATHER, seed=7)["content"] == first
    assert {render(WEATHER, seed=s)["content"] for s in range(20)} != {first}


def test_request_headers_turn_scenario_and_call_in_scope() -> None:
    reply = render({"name": "echo", "reply": {
        "content": "{{ request.model }}/{{ request.metadata.user }}/{{ headers['x-user'] }}"
                   "/{{ turn }}/{{ scenario }}/{{ call }}"}},
        headers={"X-User": "bob"})
    assert reply["content"] == "gpt-4o/alice/bob/1/echo/1"


def test_arguments_keep_native_types_elsewhere_strings() -> None:
    reply = render({"name": "tool", "reply": {
        "content": "{{ 2 + 3 }}",
        "tool_calls": [{"name": "get_weather", "arguments": {
            "days": "{{ faker.random_int(1, 5) }}",
            "units": ["{{ 'metric' }}"],
            "note": "in {{ 'Paris' }}",
        }}]}})
    args = reply["tool_calls"][0]["arguments"]
    assert reply["content"] == "5"
    assert isinstance(args["days"], int) and 1 <= args["days"] <= 5
    assert args["units"] == ["metric"] and args["note"] == "in Paris"


def test_static_replies_are_fresh_copies() -> None:
    (scenario,) = load_scenario_data({"name": "s", "reply": {"content": "plain {x}",
                                                             "headers": {"a": "1"}}})
    assert scenario.replies[0].static
    scenario_set = ScenarioSet([scenario])
    first = run_now(scenario_set.resolve(RequestView(BODY))).render(None)
    first["headers"]["a"] = "changed"
    assert run_now(scenario_set.resolve(RequestView(BODY))).render(None)["headers"] == {"a": "1"}


@pytest.mark.parametrize("template", [
    "{{ request.__class__.__mro__ }}",
    "{{ faker.__class__.__init__.__globals__ }}",
    "{{ request.messages.append(1) }}",
    "{{ request.update({'model': 'x'}) }}",
    "{{ ''.__class__.__subclasses__() }}",
])
def test_sandbox_blocks_unsafe_access(template: str) -> None:
    body = {**BODY, "messages": list(BODY["messages"])}
    with pytest.raises(MockLLMError) as info:
        render({"name": "evil", "reply": {"content": template}}, body=body)
    assert info.value.status == 500 and "evil" in str(info.value)
    assert body["messages"] == BODY["messages"] and "model" in body


def test_render_time_failure_is_a_500_naming_the_scenario() -> None:
    with pytest.raises(MockLLMError, match="scenario 'boom': reply template failed"):
        render({"name": "boom", "reply": {"content": "{{ request.nope.deeper }}"}})


def test_identical_sources_compile_once() -> None:
    engine = TemplateEngine()
    a = engine.compile_reply({"content": "{{ turn }}"})
    b = engine.compile_reply({"content": "{{ turn }}"})
    assert a.tree["content"] is b.tree["content"]
    assert not a.static
