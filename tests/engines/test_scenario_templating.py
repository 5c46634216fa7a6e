"""Reply templates: variables in scope, seeded faker, typed arguments, the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from mockllm.config import Settings
from mockllm.errors import APIError, ScenarioLoadError, TemplateLimitError
from mockllm.scenario_engine.conditions import RequestView
from mockllm.scenario_engine.loader import check_paths, load_scenario_data
from mockllm.scenario_engine.sandbox import DEFAULT_MAX_REPLY_CHARS
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


def render(
    scenario: dict[str, Any],
    *,
    seed: int = 1,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
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
    reply = render(
        {
            "name": "echo",
            "reply": {
                "content": "{{ request.model }}/{{ request.metadata.user }}/{{ headers['x-user'] }}"
                "/{{ turn }}/{{ scenario }}/{{ call }}"
            },
        },
        headers={"X-User": "bob"},
    )
    assert reply["content"] == "gpt-4o/alice/bob/1/echo/1"


def test_arguments_keep_native_types_elsewhere_strings() -> None:
    reply = render(
        {
            "name": "tool",
            "reply": {
                "content": "{{ 2 + 3 }}",
                "tool_calls": [
                    {
                        "name": "get_weather",
                        "arguments": {
                            "days": "{{ faker.random_int(1, 5) }}",
                            "units": ["{{ 'metric' }}"],
                            "note": "in {{ 'Paris' }}",
                        },
                    }
                ],
            },
        }
    )
    args = reply["tool_calls"][0]["arguments"]
    assert reply["content"] == "5"
    assert isinstance(args["days"], int) and 1 <= args["days"] <= 5
    assert args["units"] == ["metric"] and args["note"] == "in Paris"


def test_static_replies_are_fresh_copies() -> None:
    (scenario,) = load_scenario_data(
        {"name": "s", "reply": {"content": "plain {x}", "headers": {"a": "1"}}}
    )
    assert scenario.replies[0].static
    scenario_set = ScenarioSet([scenario])
    first = run_now(scenario_set.resolve(RequestView(BODY))).render(None)
    first["headers"]["a"] = "changed"
    assert run_now(scenario_set.resolve(RequestView(BODY))).render(None)["headers"] == {"a": "1"}


@pytest.mark.parametrize(
    ("template", "why"),
    [
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
    ],
)
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
        load_scenario_data(
            {
                "name": "evil",
                "sequence": [
                    {"content": "ok"},
                    {"tool_calls": [{"name": "f", "arguments": {"a": "{{ request.clear() }}"}}]},
                ],
            }
        )
    assert info.value.key == "sequence[1].tool_calls[0].arguments.a"


def test_safe_look_alikes_still_load() -> None:
    reply = render(
        {
            "name": "fine",
            "reply": {
                "content": "{{ request.model.replace('gpt', 'GPT') }}"
                "/{{ request.get('user', '-') }}"
                "/{{ request.messages|map(attribute='role')|join(',') }}"
                "/{{ '{0}!'.format(turn) }}/{{ headers.items()|list|length }}"
            },
        }
    )
    assert reply["content"] == "GPT-4o/-/user/1!/0"


def test_sandbox_still_blocks_what_only_shows_at_render_time() -> None:
    body = {**BODY, "messages": [{"role": "user", "content": "__class__"}]}
    with pytest.raises(APIError) as info:
        render(
            {
                "name": "sly",
                "reply": {"content": "{{ request|attr(request.messages[0].content) }}"},
            },
            body=body,
        )
    assert info.value.status == 422 and "sly" in str(info.value)


def test_render_time_failure_names_the_scenario_and_the_key() -> None:
    with pytest.raises(
        APIError,
        match=r"scenario 'boom' \(<data>:1, reply\.tool_calls"
        r"\[1\]\.arguments\.a\): the reply "
        r"template failed: UndefinedError",
    ):
        render(
            {
                "name": "boom",
                "reply": {
                    "tool_calls": [
                        {"name": "f", "arguments": {"a": "{{ turn }}"}},
                        {"name": "f", "arguments": {"a": "{{ request.nope.deeper }}"}},
                    ]
                },
            }
        )


def test_identical_sources_compile_once() -> None:
    engine = TemplateEngine()
    a = engine.compile_reply({"content": "{{ turn }}"})
    b = engine.compile_reply({"content": "{{ turn }}"})
    assert a.tree["content"] is b.tree["content"]
    assert not a.static


# --- bounded output: a runaway template fails fast, with a clear 422


def _limit_error(
    template: str,
    *,
    body: dict[str, Any] | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> TemplateLimitError:
    scenario_set = ScenarioSet(
        load_scenario_data(
            {"name": "big", "reply": {"content": template}}, max_reply_chars=max_reply_chars
        )
    )
    started = time.perf_counter()
    with pytest.raises(TemplateLimitError) as info:
        run_now(scenario_set.resolve(RequestView(body or BODY))).render(seeded(1))
    assert time.perf_counter() - started < 1.0
    assert info.value.status == 422 and info.value.error_code == "TemplateLimitExceeded"
    assert info.value.message.startswith("scenario 'big': the reply template ")
    return info.value


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ 'a' * 10000000 }}", "uses '*' to build a value of 10000000 characters"),
        ("{{ [1] * 10000000 }}", "uses '*' to build a value of 10000000 characters or items"),
        ("{{ 2 ** 1000000000 }}", "computes 2 ** 1000000000, a number of more than 65536 bits"),
        ("{% for i in range(1000000) %}{% endfor %}", "calls range() for 1000000 numbers"),
    ],
)
def test_literal_runaways_are_refused_at_load(template: str, why: str) -> None:
    with pytest.raises(ScenarioLoadError) as info:
        load_scenario_data({"name": "big", "reply": {"content": template}})
    assert info.value.key == "reply.content" and why in info.value.reason


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ request.messages[0].content * 1000000 }}", "uses '*' to build a value of 28000000"),
        ("{{ (request.messages * 10000000) | length }}", "uses '*' to build"),
        ("{{ 10 ** (request.messages[0].content | length * 100000) }}", "computes 10 ** 2800000"),
        ("{% for i in range(turn * 10000000) %}{% endfor %}", "calls range() for 10000000"),
        (
            "{% for i in range(100000) %}{{ 'abcdefghij' * 100 }}{% endfor %}",
            "renders more than 1048576 characters for one reply",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "renders more than 1048576 characters",
        ),
    ],
)
def test_runaways_stop_at_render_time(template: str, why: str) -> None:
    assert why in _limit_error(template).message


def test_the_limit_is_for_the_whole_reply_and_configurable() -> None:
    reply = {
        "content": "{{ 'a' * 60 }}",
        "tool_calls": [{"name": "f", "arguments": {"note": "{{ 'b' * 40 }}"}}],
    }
    scenario_set = ScenarioSet(
        load_scenario_data({"name": "fits", "reply": reply}, max_reply_chars=100)
    )
    rendered = run_now(scenario_set.resolve(RequestView(BODY))).render(seeded(1))
    assert len(rendered["content"]) + len(rendered["tool_calls"][0]["arguments"]["note"]) == 100
    assert (
        "renders more than 99 characters"
        in _limit_error("{{ 'a' * 60 }}{{ 'b' * 40 }}", max_reply_chars=99).message
    )
    with pytest.raises(ScenarioLoadError, match="at most 50"):
        load_scenario_data(
            {"name": "big", "reply": {"content": "{{ 'a' * 60 }}"}}, max_reply_chars=50
        )


def test_settings_default_is_the_sandbox_default() -> None:
    assert Settings().max_reply_chars == DEFAULT_MAX_REPLY_CHARS == 1024 * 1024
    assert Settings.from_env({"MOCKLLM_MAX_REPLY_CHARS": "500"}).max_reply_chars == 500


async def test_a_runaway_template_is_a_422_over_http(
    make_app: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    scenario = tmp_path / "big.yaml"
    scenario.write_text("name: big\nreply:\n  content: \"{{ 'ab' * request.max_tokens }}\"\n")
    client = await aiohttp_client(
        make_app(Settings(scenario_paths=(scenario,), max_reply_chars=1000))
    )
    body = {**BODY, "max_tokens": 500}
    assert (await client.post("/v1/chat/completions", json=body)).status == 200
    response = await client.post("/v1/chat/completions", json={**body, "max_tokens": 501})
    assert response.status == 422
    error = await response.json()
    assert error["responseStatus"]["errorCode"] == "TemplateLimitExceeded"
    assert error["error"]["code"] == "template_limit_exceeded"
    assert "scenario 'big'" in error["error"]["message"]
    assert "1002 characters" in error["error"]["message"]
    # scenarios added at run time get the server's limit too
    added = await client.post(
        "/__mockllm/scenarios", json={"name": "literal", "reply": {"content": "{{ 'a' * 1001 }}"}}
    )
    assert added.status == 400 and "at most 1000" in (await added.json())["error"]["message"]
