"""The seam between the engine and the APIs: every surface's routes through one pipeline,
the journal naming the surface, and the ``surface`` scenario condition."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from mockllm import Settings, create_app
from mockllm.surfaces import builtin_surfaces
from mockllm.surfaces.neutral import reply_of

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def _client(aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(Settings(strict=True)))


async def test_the_journal_names_the_surface_of_each_exchange(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client)
    await client.post("/__mockllm/scenarios", json={"name": "hello", "reply": {"content": "Hi"}})
    assert (await client.post("/v1/chat/completions", json=CHAT)).status == 200
    assert (await client.post("/api/ChatCompletion", json=CHAT)).status == 200
    assert (await client.get("/v1/nowhere")).status == 404
    rows = (await (await client.get("/__mockllm/requests")).json())["requests"]
    rows.sort(key=lambda r: r["seq"])
    assert [(r["path"], r["surface"]) for r in rows] == [
        ("/v1/chat/completions", "chat"),
        ("/api/ChatCompletion", "chat"),
        ("/v1/nowhere", None),
    ]
    only = (await (await client.get("/__mockllm/requests?surface=chat")).json())["requests"]
    assert len(only) == 2


async def test_a_scenario_restricted_to_another_surface_does_not_answer(
    aiohttp_client: Any,
) -> None:
    client = await _client(aiohttp_client)
    await client.post(
        "/__mockllm/scenarios",
        json=[
            {"name": "elsewhere", "when": {"surface": "responses"}, "reply": {"content": "no"}},
            {"name": "here", "when": {"surface": "chat"}, "reply": {"content": "yes"}},
        ],
    )
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status == 200
    assert (await response.json())["choices"][0]["message"]["content"] == "yes"


async def test_a_surface_spells_its_own_errors(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client)
    response = await client.post("/v1/chat/completions", json={"model": "m"})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["param"] == "messages" and "responseStatus" in body


def test_every_surface_has_a_name_and_routes() -> None:
    names = [s.name for s in builtin_surfaces()]
    assert names[0] == "chat" and len(set(names)) == len(names)
    assert all(s.routes for s in builtin_surfaces())


MESSAGE = {
    "role": "assistant", "content": "see", "reasoning": "think",
    "annotations": [{"type": "url_citation", "url_citation": {
        "url": "https://a", "title": "A", "start_index": 0, "end_index": 3}}],
    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}  # fmt: skip


def test_the_neutral_reply_reads_text_calls_citations_and_usage() -> None:
    choice = {"message": MESSAGE, "finish_reason": "tool_calls", "index": 0}
    usage = {"prompt_tokens": 3, "completion_tokens": 5,
             "completion_tokens_details": {"reasoning_tokens": 2}}  # fmt: skip
    reply = reply_of({"id": "x", "created": 1, "model": "m", "choices": [choice], "usage": usage})
    assert (reply.text, reply.reasoning, reply.finish) == ("see", "think", "tool_calls")
    assert reply.tool_calls[0].name == "f" and reply.citations[0].end == 3
    assert (reply.usage.total, reply.usage.reasoning) == (8, 2)


def test_every_surfaces_plain_post_routes_are_on_the_lean_lane() -> None:
    from mockllm.http.context import STATE

    lane = create_app(Settings())[STATE].lane_routes
    assert {"/v1/chat/completions", "/api/ChatCompletion", "/v1/responses",
            "/v1/responses/input_tokens"} <= set(lane)  # fmt: skip
    assert not any("{" in path for path in lane)
