"""The pytest plugin, run the way users run it: inner test sessions through ``pytester``.

Each inner session starts its own mockllm server, so the inner tests are grouped
into few sessions to keep this file quick.
"""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import pytest
from redis_server import RedisServer

pytest_plugins = ["pytester"]

# Helpers the inner test files share: a tiny HTTP client, nothing from mockllm.
HELPERS = """
import json
import urllib.error
import urllib.request


def post(url, body):
    request = urllib.request.Request(url + "/v1/chat/completions",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ask(url, text, model="gpt-4o-mini", **extra):
    return post(url, {"model": model, "messages": [{"role": "user", "content": text}], **extra})


def content(url, text, **extra):
    status, body = ask(url, text, **extra)
    assert status == 200, body
    return body["choices"][0]["message"]["content"]
"""

GREETING_YAML = """\
name: greeting
when: {last_user_message: {contains: hello}}
reply: {content: "Hello from a file"}
"""


BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture()
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(helpers=HELPERS)
    pytester.syspathinsert()
    pytester.makeini(BASE_INI)
    return pytester


def _free_port(count: int = 1) -> int:
    """A port P such that P..P+count-1 are free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            others = [socket.socket() for _ in range(count - 1)]
            try:
                for offset, sock in enumerate(others, start=1):
                    sock.bind(("127.0.0.1", port + offset))
                return port
            except OSError:
                continue
            finally:
                for sock in others:
                    sock.close()
    raise RuntimeError("no run of free ports found")


def test_fixture_marker_and_reset_between_tests(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("MOCKLLM_PORT", str(port))  # pins the address
    inner.makefile(".yaml", greeting=GREETING_YAML)
    inner.makepyfile(
        test_inner="""
        import os
        import pytest
        from helpers import ask, content

        SEEN = {}

        def test_pinned_address(mockllm):
            assert mockllm.url == "http://127.0.0.1:" + os.environ["MOCKLLM_PORT"]
            assert mockllm.base_url == mockllm.url + "/v1"

        def test_add_dict_list_and_yaml(mockllm):
            assert mockllm.add({"name": "one", "when": {"last_user_message": "1"},
                                "reply": {"content": "first"}}) == ["one"]
            assert mockllm.add([{"name": "two", "when": {"last_user_message": "2"},
                                 "reply": {"content": "second"}}]) == ["two"]
            mockllm.add_yaml("name: three\\nwhen: {last_user_message: '3'}\\n"
                             "reply: {content: third}\\n")
            assert [content(mockllm.url, t) for t in "123"] == ["first", "second", "third"]
            SEEN["journal"] = len(mockllm.requests)

        def test_the_next_test_starts_clean(mockllm):
            assert SEEN["journal"] == 3
            assert mockllm.requests == []
            assert mockllm.state.scenarios.get("one") is None

        @pytest.mark.mockllm(scenarios="greeting.yaml")
        def test_marker_file_relative_to_the_test(mockllm):
            assert content(mockllm.url, "hello!") == "Hello from a file"

        @pytest.mark.mockllm(scenarios=[{"name": "seq", "sequence": [
            {"content": "a"}, {"content": "b"}]}])
        def test_marker_dicts_and_counters(mockllm):
            assert [content(mockllm.url, "x") for _ in range(3)] == ["a", "b", "b"]

        @pytest.mark.mockllm(scenarios=[{"name": "seq", "sequence": [
            {"content": "a"}, {"content": "b"}]}])
        def test_counters_are_reset(mockllm):
            assert content(mockllm.url, "x") == "a"

        def test_marker_file_is_gone(mockllm):
            assert mockllm.state.scenarios.get("greeting") is None

        @pytest.mark.mockllm(seed=7)
        def test_seed_7(mockllm):
            assert mockllm.settings.seed == 7
            SEEN["7a"] = content(mockllm.url, "tell me something")
            SEEN["7b"] = content(mockllm.url, "tell me something")

        @pytest.mark.mockllm(seed=7)
        def test_seed_7_again(mockllm):
            SEEN["7c"] = content(mockllm.url, "tell me something")

        @pytest.mark.mockllm(seed=8)
        def test_seed_8(mockllm):
            SEEN["8"] = content(mockllm.url, "tell me something")

        def test_default_seed_is_back(mockllm):
            from mockllm.pytest_plugin import DEFAULT_SEED
            assert mockllm.settings.seed == DEFAULT_SEED
            assert SEEN["7a"] == SEEN["7b"] == SEEN["7c"] != SEEN["8"]
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=11)
    assert port  # the session server took the pinned port (test_pinned_address)


def test_ini_options_set_the_defaults(inner: pytest.Pytester) -> None:
    inner.makefile(".yaml", greeting=GREETING_YAML)
    inner.makeini(
        BASE_INI + "mockllm_scenarios = greeting.yaml\nmockllm_seed = 99\n"
        "mockllm_strict = true\nmockllm_fail_on_invalid = false\n"
    )
    inner.makepyfile(
        test_inner="""
        import pytest
        from helpers import ask, content

        def test_ini(mockllm):
            assert mockllm.settings.seed == 99
            assert mockllm.state.scenarios.strict is True
            assert content(mockllm.url, "hello") == "Hello from a file"

        @pytest.mark.mockllm(strict=False, seed="none")
        def test_marker_beats_ini(mockllm):
            assert mockllm.settings.seed is None
            assert ask(mockllm.url, "nothing matches this")[0] == 200

        def test_invalid_allowed_by_ini(mockllm):
            assert ask(mockllm.url, "hello", temperature=7)[0] == 400
            assert mockllm.last_request.field_errors[0].param == "temperature"
    """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_teardown_failures(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_inner="""
        import pytest
        from helpers import ask

        def test_swallowed_invalid_request(mockllm):
            status, _ = ask(mockllm.url, "hi", temperature=7)
            assert status == 400  # the app under test would swallow this

        @pytest.mark.mockllm(fail_on_invalid=False)
        def test_invalid_on_purpose(mockllm):
            assert ask(mockllm.url, "hi", temperature=7)[0] == 400

        @pytest.mark.mockllm(strict=True, scenarios=[{"name": "weather",
            "when": {"last_user_message": {"contains": "weather"}}}])
        def test_strict_unmatched(mockllm):
            status, _ = ask(mockllm.url, "what about the football?")
            assert status == 404

        @pytest.mark.mockllm(strict=True, scenarios=[{"name": "weather",
            "when": {"last_user_message": {"contains": "weather"}}}])
        def test_strict_matched(mockllm):
            assert ask(mockllm.url, "the weather?")[0] == 200

        @pytest.mark.mockllm(scenarios="missing.yaml")
        def test_missing_scenario_file(mockllm):
            pass

        @pytest.mark.mockllm(stirct=True)
        def test_misspelt_option(mockllm):
            pass
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=4)
    result.stdout.fnmatch_lines(
        ["*missing.yaml*no such file or folder*", "*unknown option(s) stirct*"], consecutive=False
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_swallowed_invalid_request*",
            "*1 request(s) failed validation*",
            "*temperature: *",
            "*ERROR at teardown of test_strict_unmatched*",
            "*matched no scenario*",
            "*near miss weather: *football*",
        ]
    )


def test_assertions_and_their_failure_messages(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_inner="""
        import pytest
        from helpers import ask, content

        @pytest.mark.mockllm(scenarios=[
            {"name": "weather", "when": {"last_user_message": {"contains": "weather"}},
             "reply": {"content": "Sunny"}},
            {"name": "news", "when": {"last_user_message": {"contains": "news"}},
             "reply": {"content": "Nothing new"}}])
        def test_queries(mockllm):
            content(mockllm.url, "weather in Paris")
            content(mockllm.url, "weather in Oslo", model="gpt-4o")
            content(mockllm.url, "news")
            assert len(mockllm.assert_called("weather", times=2)) == 2
            mockllm.assert_called("news")
            mockllm.assert_not_called("sport")
            assert [r.model for r in mockllm.requests_where(scenario="weather")] == [
                "gpt-4o-mini", "gpt-4o"]
            assert len(mockllm.requests_where(model="gpt-4o")) == 1
            assert len(mockllm.requests_where(path="/v1/chat/completions")) == 3
            oslo = mockllm.requests_where(lambda r: "Oslo" in r.body["messages"][0]["content"])
            assert [r.scenario for r in oslo] == ["weather"]
            last = mockllm.last_request
            assert (last.scenario, last.status, last.valid) == ("news", 200, True)
            assert last.reply_summary == "content: 'Nothing new'"
            assert last.duration_ms > 0

        @pytest.mark.mockllm(scenarios=[
            {"name": "weather", "when": {"last_user_message": {"contains": "weather"}},
             "reply": {"content": "Sunny"}}])
        def test_failing_assertion(mockllm):
            content(mockllm.url, "weather in Paris")
            mockllm.assert_called("weather", times=1, model="gpt-4o")
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*MockLLMAssertionError: mockllm: expected exactly 1 request(s) with "
            "scenario='weather', model='gpt-4o', got 0*",
            "*similar requests:*",
            "*#* POST /v1/chat/completions -> 200*weather in Paris*",
            "*differs: model is 'gpt-4o-mini', not 'gpt-4o'*",
        ]
    )


def test_async_fixture_runs_in_the_test_loop(inner: pytest.Pytester) -> None:
    inner.makeini(BASE_INI + "asyncio_mode = auto\n")
    inner.makepyfile(
        test_inner="""
        import asyncio
        import aiohttp
        import pytest

        @pytest.mark.mockllm(scenarios=[{"name": "hi", "reply": {"content": "async hi"}}])
        async def test_aio(mockllm_aio):
            assert mockllm_aio.state.settings.seed is not None
            async with aiohttp.ClientSession() as session:
                async with session.post(mockllm_aio.base_url + "/chat/completions", json={
                        "model": "m", "messages": [{"role": "user", "content": "x"}]}) as r:
                    body = await r.json()
            assert body["choices"][0]["message"]["content"] == "async hi"
            mockllm_aio.assert_called("hi", times=1)

        async def test_aio_invalid_fails_at_teardown(mockllm_aio):
            async with aiohttp.ClientSession() as session:
                await session.post(mockllm_aio.base_url + "/chat/completions",
                                   json={"model": "m", "messages": []})
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_aio_invalid_fails_at_teardown*", "*messages*"]
    )


def test_parallel_workers_each_get_a_server(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port(2)
    # A pinned port under xdist: worker gwN takes port + N.
    monkeypatch.setenv("MOCKLLM_PORT", str(port))
    inner.makepyfile(
        test_inner=f"""
        import os
        import pathlib
        import pytest
        from helpers import content

        @pytest.mark.parametrize("n", range(4))
        def test_worker(mockllm, n):
            mockllm.add({{"name": f"s{{n}}", "reply": {{"content": f"reply {{n}}"}}}})
            assert content(mockllm.url, "x") == f"reply {{n}}"
            out = pathlib.Path({str(inner.path)!r}) / f"port-{{n}}"
            out.write_text(os.environ["PYTEST_XDIST_WORKER"] + " " + mockllm.url)
    """
    )
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    seen = {tuple(p.read_text().split()) for p in inner.path.glob("port-*")}
    assert seen == {(f"gw{n}", f"http://127.0.0.1:{port + n}") for n in (0, 1)}


def test_readme_plugin_examples_pass(inner: pytest.Pytester) -> None:
    # The short example at the top and the longer ones of "Testing with pytest", as written.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"<!-- example: (pytest[\w-]*) -->\s*```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 2, "README.md lost its pytest examples"
    for name, code in blocks:
        inner.makepyfile(**{f"test_readme_{name.replace('-', '_')}": code})
    result = inner.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("passed", 0) >= 3


def test_rate_budgets_start_full_in_every_test(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKLLM_RATE_LIMIT_RPM", "2")
    inner.makepyfile(
        test_budget="""
import pytest
from helpers import ask


@pytest.mark.parametrize("round", [1, 2])
def test_two_requests_fit_the_budget(mockllm, round):
    assert ask(mockllm.url, "one")[0] == 200
    assert ask(mockllm.url, "two")[0] == 200
    status, body = ask(mockllm.url, "three")
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
"""
    )
    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_strict_mode_survives_a_reset_inside_the_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_strict_reset="""
import pytest
from helpers import ask


@pytest.mark.mockllm(strict=True, fail_on_invalid=False)
def test_reset_keeps_strict(mockllm):
    mockllm.add({"name": "hi", "when": {"last_user_message": "hi"}, "reply": {"content": "yo"}})
    assert ask(mockllm.url, "hi")[0] == 200
    mockllm.reset()
    assert ask(mockllm.url, "hi")[0] == 404  # the added scenario is gone...
    assert mockllm.state.scenarios.scenarios == ()  # ...and no built-in came back
    mockllm.reset()  # teardown sees no unmatched request from before the reset


def test_next_test_gets_the_built_ins_again(mockllm):
    assert ask(mockllm.url, "anything")[0] == 200
"""
    )
    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_environment_sets_seed_and_strict_when_the_ini_does_not(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKLLM_SEED", "none")
    monkeypatch.setenv("MOCKLLM_STRICT", "true")
    inner.makepyfile(
        test_env="""
from helpers import ask


def test_env_defaults(mockllm):
    assert mockllm.settings.seed is None
    assert mockllm.settings.strict is True
    assert ask(mockllm.url, "anything")[0] == 404
    mockllm.reset()
"""
    )
    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    inner.makeini(BASE_INI + "mockllm_seed = 5\nmockllm_strict = false\n")
    inner.makepyfile(
        test_env="""
def test_ini_wins(mockllm):
    assert mockllm.settings.seed == 5 and mockllm.settings.strict is False
"""
    )
    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_works_unchanged_on_a_redis_state(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    # MOCKLLM_STATE puts the session server's state in Redis: the same fixture, the
    # same assertions, and a `times` counted there.
    monkeypatch.setenv("MOCKLLM_STATE", redis_server.url)
    monkeypatch.setenv("MOCKLLM_STATE_PREFIX", f"plugin:{uuid.uuid4().hex}:")
    inner.makepyfile(
        test_inner="""
        from helpers import content

        def test_times_and_the_journal(mockllm):
            mockllm.add({"name": "twice", "times": 2, "when": {"last_user_message": "x"},
                         "reply": {"content": "twice"}})
            answers = [content(mockllm.url, "x") for _ in range(3)]
            assert answers[:2] == ["twice", "twice"] and answers[2] != "twice"
            mockllm.assert_called("twice", times=2)
            assert len(mockllm.requests) == 3

        def test_the_next_test_starts_clean(mockllm):
            assert mockllm.requests == []
            assert mockllm.state.store.description.startswith("redis://")
    """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_failed_assertion_starts_with_its_message_not_mockllms_frames(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        test_fails="""
        def test_nothing_came(mockllm):
            mockllm.assert_called("greeting", times=1)

        def test_no_request(mockllm):
            mockllm.last_request
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "mockllm/testing.py" not in out and "def assert_called" not in out
    assert (
        "MockLLMAssertionError: mockllm: expected exactly 1 request(s) with "
        "scenario='greeting', got 0" in out
    )
    assert "MockLLMAssertionError: mockllm received no request" in out
