"""The seams between the layers: one loader and registry per app, and the defects found
when the layers were drawn (each test here failed before its fix)."""

from __future__ import annotations

import ast
import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from mockllm import MockLLM, MockLLMServer, RequestView, Settings, create_app, default_registry
from mockllm.http.context import STATE
from mockllm.naming import to_snake
from mockllm.reply_engine.generate import scripted_error
from mockllm.scenario_engine.conditions import MatcherRegistry
from mockllm.scenario_engine.loader import load_scenario_data
from mockllm.scenario_engine.scenarioset import ScenarioSet
from mockllm.state import MemoryStore, run_now
from mockllm.testing import run_here

ROOT = Path(__file__).resolve().parents[2]


def _registry() -> MatcherRegistry:
    registry = default_registry()
    registry.register("message_count", lambda view: len(view.messages), "messages sent")
    return registry


BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
}
COUNTED = {"name": "counted", "when": {"message_count": 2}, "reply": {"content": "two"}}


async def _content(client: TestClient) -> str:
    response = await client.post("/v1/chat/completions", json=BODY)
    assert response.status == 200, await response.text()
    return str((await response.json())["choices"][0]["message"]["content"])


# ---------------------------------------------------- one loader and registry per app


async def test_a_custom_condition_works_at_startup(aiohttp_client: Any, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(json.dumps(COUNTED))
    app = create_app(Settings(scenario_paths=(tmp_path,)), registry=_registry())
    assert await _content(await aiohttp_client(app)) == "two"


async def test_a_custom_condition_works_after_a_reload(aiohttp_client: Any, tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(json.dumps({"name": "plain", "reply": {"content": "one"}}))
    app = create_app(Settings(scenario_paths=(tmp_path,), reload=True), registry=_registry())
    client = await aiohttp_client(app)
    assert await _content(client) == "one"
    file.write_text(json.dumps(COUNTED))
    deadline = time.monotonic() + 10
    while await _content(client) != "two":
        assert time.monotonic() < deadline, "the reload never took the custom condition"
        await asyncio.sleep(0.2)


async def test_a_custom_condition_works_through_the_control_api(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Settings(), registry=_registry()))
    response = await client.post("/__mockllm/scenarios", json=COUNTED)
    assert response.status == 201, await response.text()
    assert await _content(client) == "two"


def test_a_custom_condition_works_through_the_test_handle() -> None:
    with MockLLMServer(Settings(port=0), registry=_registry()) as server:
        handle = MockLLM(server.url, server.state, server.call)
        assert handle.add(COUNTED) == ["counted"]
        request = urllib.request.Request(
            server.base_url + "/chat/completions",
            data=json.dumps(BODY).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["choices"][0]["message"]["content"] == "two"
        assert handle.last_request.scenario == "counted"


async def test_the_in_loop_handle_drives_the_memory_store_without_waiting(
    aiohttp_client: Any,
) -> None:
    app = create_app(Settings(), registry=_registry())
    client = await aiohttp_client(app)
    handle = MockLLM(str(client.make_url("")), app[STATE], run_here)
    handle.add(COUNTED)
    assert await _content(client) == "two"
    assert [e.scenario for e in handle.requests] == ["counted"]


# ------------------------------------------------------------------------- defects


async def test_a_times_counter_survives_a_full_conversation_table() -> None:
    store = MemoryStore(max_conversations=2)
    scenarios = ScenarioSet(
        load_scenario_data(
            [
                {
                    "name": "once",
                    "times": 1,
                    "when": {"last_user_message": "once"},
                    "reply": {"content": "once"},
                },
                {
                    "name": "chat",
                    "conversation": {"key": "header", "header": "x-conv"},
                    "reply": {"content": "chat"},
                },
            ]
        ),
        store=store,
    )

    def ask(text: str, conv: str = "") -> str | None:
        view = RequestView(
            {"model": "m", "messages": [{"role": "user", "content": text}]}, {"x-conv": conv}
        )
        return run_now(scenarios.resolve(view)).scenario_name

    assert ask("once") == "once"
    for n in range(10):  # fills the conversation table five times over
        assert ask(f"talk {n}", f"c{n}") == "chat"
    assert ask("once") == "chat"  # used up stays used up


def test_a_restarted_server_is_bound_when_start_returns() -> None:
    server = MockLLMServer(Settings(port=0))
    for _ in range(2):
        server.start()
        assert server.port is not None
        with urllib.request.urlopen(server.url + "/__mockllm/health", timeout=10) as response:
            assert json.load(response)["status"] == "ok"
        server.stop()


def test_a_condition_named_like_a_view_fact_has_its_own_cache_slot() -> None:
    registry = default_registry()
    # Named like RequestView.turn's fact and like the index's "model": different values.
    registry.register("turn", lambda view: "custom-turn")
    registry.register("first_user_message", lambda view: "custom-first")
    [scenario] = load_scenario_data(
        {"name": "s", "when": {"turn": "custom-turn", "first_user_message": "custom-first"}},
        registry=registry,
    )
    view = RequestView({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert view.turn == 1 and view.first_user_message == "hi"  # cached first
    assert scenario.match(view) is not None
    assert view.turn == 1 and view.first_user_message == "hi"  # and still right


def test_one_snake_case_converter_reads_acronyms_as_one_word() -> None:
    assert to_snake("URLCitation") == "url_citation"
    assert to_snake("MaxCompletionTokens") == "max_completion_tokens"
    error = scripted_error(
        {"status": 400, "field_errors": [{"fieldName": "URLCitation", "message": "bad"}]}
    )
    assert error.field_errors[0].param == "url_citation"


def test_runtime_code_does_not_import_the_schema_generator() -> None:
    # schemagen and openapigen are build time (`mockllm schemas`); only the CLI command
    # loads them.
    importers = []
    for path in sorted((ROOT / "mockllm").rglob("*.py")):
        if path.name in {"schemagen.py", "openapigen.py", "cli.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(
                ("schemagen", "openapigen")
            ):
                importers.append(path.name)
    assert importers == []


def test_the_suffix_is_defined_once() -> None:
    defined = [
        p.name
        for p in sorted((ROOT / "mockllm").rglob("*.py"))
        if any(
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "SUFFIX" for t in n.targets)
            for n in ast.parse(p.read_text(encoding="utf-8")).body
        )
    ]
    assert defined == ["naming.py"]


async def test_error_details_reach_the_journal_and_the_body_meta(aiohttp_client: Any) -> None:
    app = create_app(Settings(rate_limit_rpm=1))
    client = await aiohttp_client(app)
    assert (await client.post("/v1/chat/completions", json=BODY)).status == 200
    refused = await client.post("/v1/chat/completions", json=BODY)
    assert refused.status == 429
    meta = (await refused.json())["responseStatus"]["meta"]
    assert json.loads(meta["rate_limit"])["limit"] == 1
    journal = (await (await client.get("/__mockllm/requests")).json())["requests"]
    assert journal[0]["tags"]["rate_limit"]["budget"] == "requests"
