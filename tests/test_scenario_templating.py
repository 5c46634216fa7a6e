"""Reply templates: variables in scope, seeded faker, typed arguments, the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from mockllm.errors import MockLLMError, ScenarioLoadError
from mockllm.scenario_engine.conditions import RequestView
from mockllm.scenario_engine.loader import check_paths, load_scenario_data
from mockllm.scenario_engine.scenarioset import ScenarioSet
from mockllm.scenario_engine.templating import TemplateEngine

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
    return scenario_set.resolve(view).render(seeded(seed))


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
    first = scenario_set.resolve(RequestView(BODY)).render(None)
    first["headers"]["a"] = "changed"
    assert scenario_set.resolve(RequestView(BODY)).render(None)["headers"] == {"a": "1"}


@pytest.mark.parametrize(("template", "why"), [
    ("{{ ''.__class__ }}", "reaches '__class__'"),
    ("{{ request.__class__.__mro__ }}", "reaches '__class__'"),
    ("{{ turn.__mro__ }}", "reaches '__mro__'"),
    ("{{ ''.__class__.__subclasses__() }}", "reaches '__class__'"),
    ("{{ [].__subclasses__ }}", "reaches '__subclasses__'"),
    ("{{ lipsum.__globals__ }}", "reaches '__globals__'"),
    ("{{ faker.__class__.__init__.__globals__ }}", "reaches '__class__'"),
    ("{{ request['__class__'] }}", "reaches '__class__'"),
    ("{{ request|attr('__class__') }}", "reaches '__class__'"),
    ("{{ request.messages|map(attribute='__class__')|list }}", "reaches '__class__'"),
    ("{{ '{0.__class__}'.format(request) }}", "formats '__class__'"),
    ("{{ request._private }}", "reaches '_private'"),
    ("{{ request.clear() }}", "calls clear()"),
    ("{{ request.messages.append(1) }}", "calls append()"),
    ("{{ request.update({'model': 'x'}) }}", "calls update()"),
    ("{{ request.pop('model') }}", "calls pop()"),
    ("{{ faker.seed_instance(1) }}", "calls seed_instance()"),
])
def test_unsafe_templates_are_refused_at_load(template: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ScenarioLoadError) as info:
        load_scenario_data({"name": "evil", "reply": {"content": template}})
    assert info.value.key == "reply.content" and why in info.value.reason
    # mockllm check says so too, with the file, the line and the key
    scenario = tmp_path / "evil.yaml"
    scenario.write_text(f"name: evil\nreply:\n  content: >-\n    x\n    {template}\n")
    problems = check_paths([scenario])
    assert len(problems) == 1
    assert problems[0].startswith(f"{scenario}:3: reply.content: the template ")
    assert why in problems[0] and "(template line 1)" in problems[0]


def test_refused_in_tool_arguments_and_sequences_too() -> None:
    with pytest.raises(ScenarioLoadError) as info:
        load_scenario_data({"name": "evil", "sequence": [
            {"content": "ok"},
            {"tool_calls": [{"name": "f", "arguments": {"a": "{{ request.clear() }}"}}]}]})
    assert info.value.key == "sequence[1].tool_calls[0].arguments.a"


def test_safe_look_alikes_still_load() -> None:
    reply = render({"name": "fine", "reply": {
        "content": "{{ request.model.replace('gpt', 'GPT') }}/{{ request.get('user', '-') }}"
                   "/{{ request.messages|map(attribute='role')|join(',') }}"
                   "/{{ '{0}!'.format(turn) }}/{{ headers.items()|list|length }}"}})
    assert reply["content"] == "GPT-4o/-/user/1!/0"


def test_sandbox_still_blocks_what_only_shows_at_render_time() -> None:
    body = {**BODY, "messages": [{"role": "user", "content": "__class__"}]}
    with pytest.raises(MockLLMError) as info:
        render({"name": "sly", "reply": {
            "content": "{{ request|attr(request.messages[0].content) }}"}}, body=body)
    assert info.value.status == 500 and "sly" in str(info.value)


def test_render_time_failure_is_a_500_naming_the_scenario() -> None:
    with pytest.raises(MockLLMError, match="scenario 'boom': reply template failed"):
        render({"name": "boom", "reply": {"content": "{{ request.nope.deeper }}"}})


def test_identical_sources_compile_once() -> None:
    engine = TemplateEngine()
    a = engine.compile_reply({"content": "{{ turn }}"})
    b = engine.compile_reply({"content": "{{ turn }}"})
    assert a.tree["content"] is b.tree["content"]
    assert not a.static
