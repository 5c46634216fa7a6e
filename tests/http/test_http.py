"""HTTP behaviour of the app: routes, formats, and a clear error for every bad input."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mockllm.config import ErrorDialect, Settings, ValidationMode
from mockllm.conform.sse import read_stream

Client = Callable[..., Awaitable[TestClient]]
VALID = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
JSON = {"Content-Type": "application/json"}


@pytest.fixture()
async def client(make_app: Any, aiohttp_client: Client) -> TestClient:
    return await aiohttp_client(make_app(Settings(seed=1)))


async def _still_serving(client: TestClient) -> None:
    response = await client.post("/v1/chat/completions", json=VALID)
    assert response.status == 200
    assert (await response.json())["object"] == "chat.completion"


@pytest.mark.parametrize(
    ("data", "headers", "status", "error_code", "needle"),
    [
        ("{not json", JSON, 400, "SerializationException", "not valid JSON"),
        ("", JSON, 400, "SerializationException", "empty"),
        ("[1, 2]", JSON, 400, "SerializationException", "not an array"),
        ('"text"', JSON, 400, "SerializationException", "not a string"),
        (
            '{"model": "m"}',
            {"Content-Type": "text/plain"},
            415,
            "UnsupportedMediaType",
            "application/json",
        ),
        (
            "model=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "UnsupportedMediaType",
            "Content-Type",
        ),
    ],
)
async def test_bad_bodies_get_a_clear_4xx(
    client: TestClient, data: str, headers: dict, status: int, error_code: str, needle: str
) -> None:
    response = await client.post("/v1/chat/completions", data=data, headers=headers)
    assert response.status == status
    body = await response.json()
    assert body["responseStatus"]["errorCode"] == error_code
    assert needle in body["responseStatus"]["message"]
    assert body["error"]["message"] == body["responseStatus"]["message"]
    assert response.headers["x-request-id"].startswith("req_")
    await _still_serving(client)


async def test_validation_error_has_both_envelopes(client: TestClient) -> None:
    bad = {
        "model": "gpt-4o",
        "messages": [{"role": "robot", "content": "x"}],
        "temperature": 3,
        "temprature": 1,
    }
    response = await client.post("/v1/chat/completions", json=bad)
    assert response.status == 400
    body = await response.json()
    fields = {e["fieldName"] for e in body["responseStatus"]["errors"]}
    assert {"Messages[0].Role", "Temperature"} <= fields
    assert any("temprature" in e["fieldName"].lower() for e in body["responseStatus"]["errors"])
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] in {"messages[0].role", "temperature", "temprature"}
    assert body["responseStatus"]["errorCode"] == body["responseStatus"]["errors"][0]["errorCode"]


@pytest.mark.parametrize(
    ("mode", "status"),
    [(ValidationMode.STRICT, 400), (ValidationMode.LENIENT, 200), (ValidationMode.OFF, 200)],
)
async def test_unknown_fields_by_validation_mode(
    make_app: Any, aiohttp_client: Client, mode: ValidationMode, status: int
) -> None:
    client = await aiohttp_client(make_app(Settings(validation=mode)))
    response = await client.post("/v1/chat/completions", json={**VALID, "temprature": 0.2})
    assert response.status == status


async def test_validation_off_accepts_wrong_types(make_app: Any, aiohttp_client: Client) -> None:
    client = await aiohttp_client(make_app(Settings(validation=ValidationMode.OFF)))
    response = await client.post("/v1/chat/completions", json={**VALID, "temperature": "hot"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("dialect", "keys"),
    [
        (ErrorDialect.BOTH, {"responseStatus", "error"}),
        (ErrorDialect.OPENAI, {"error"}),
        (ErrorDialect.SERVICESTACK, {"responseStatus"}),
    ],
)
async def test_error_dialect(
    make_app: Any, aiohttp_client: Client, dialect: ErrorDialect, keys: set
) -> None:
    client = await aiohttp_client(make_app(Settings(error_dialect=dialect)))
    response = await client.post("/v1/chat/completions", json={"model": "m"})
    assert response.status == 400
    assert set(await response.json()) == keys


async def test_body_over_the_limit_is_413(make_app: Any, aiohttp_client: Client) -> None:
    client = await aiohttp_client(make_app(Settings(max_body_bytes=2048)))
    big = {**VALID, "messages": [{"role": "user", "content": "x" * 5000}]}
    response = await client.post("/v1/chat/completions", json=big)
    assert response.status == 413
    assert (await response.json())["responseStatus"]["errorCode"] == "RequestEntityTooLarge"
    await _still_serving(client)


async def test_unknown_path_is_404_with_a_hint(client: TestClient) -> None:
    response = await client.post("/chat/completions", json=VALID)
    assert response.status == 404
    body = await response.json()
    assert body["responseStatus"]["errorCode"] == "NotFound"
    assert "/v1" in body["error"]["message"]
    assert response.headers["x-request-id"]


async def test_wrong_verb_is_405_with_allow(client: TestClient) -> None:
    # GET lists stored completions; PUT is nothing on this path.
    response = await client.put("/v1/chat/completions", json=VALID)
    assert response.status == 405
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))
    assert (await response.json())["responseStatus"]["errorCode"] == "NotImplementedException"
    await _still_serving(client)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions",
        "/v1/chat/completions.json",
        "/api/ChatCompletion",
        "/api/ChatCompletion.json",
        "/json/reply/ChatCompletion",
        "/v1/chat/completions?format=json",
    ],
)
async def test_servicestack_routes_and_formats(client: TestClient, path: str) -> None:
    response = await client.post(path, json=VALID)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert (await response.json())["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/chat/completions?format=xml", {}),
        ("/v1/chat/completions.csv", {}),
        ("/xml/reply/ChatCompletion", {}),
        ("/v1/chat/completions", {"Accept": "application/xml"}),
        ("/v1/chat/completions", {"Accept": "application/json;q=0, text/html"}),
    ],
)
async def test_unsupported_formats_are_406(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.post(path, json=VALID, headers=headers)
    assert response.status == 406
    assert (await response.json())["responseStatus"]["errorCode"] == "NotAcceptable"


async def test_accept_negotiation_takes_json_among_others(client: TestClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json=VALID,
        headers={"Accept": "application/xml, application/json;q=0.5"},
    )
    assert response.status == 200


async def test_jsonp_wraps_the_reply(client: TestClient) -> None:
    response = await client.post("/v1/chat/completions?callback=app.onReply", json=VALID)
    assert response.status == 200
    assert response.content_type == "application/javascript"
    text = await response.text()
    assert text.startswith("app.onReply({") and text.endswith("})")


async def test_jsonp_errors_answer_200_like_servicestack(client: TestClient) -> None:
    response = await client.post("/v1/chat/completions?callback=cb", json={"model": "m"})
    assert response.status == 200
    text = await response.text()
    assert text.startswith("cb({") and '"responseStatus"' in text


@pytest.mark.parametrize("callback", ["alert(1)", "a-b", "x;y", "<script>", "1abc", "a..b"])
async def test_unsafe_jsonp_callback_is_rejected_not_echoed(
    client: TestClient, callback: str
) -> None:
    response = await client.post("/v1/chat/completions", params={"callback": callback}, json=VALID)
    assert response.status == 400
    text = await response.text()
    assert callback not in text
    assert (await response.json())["error"]["param"] == "callback"


async def test_models_are_listed(client: TestClient) -> None:
    body = await (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    assert {"id", "object", "created", "owned_by"} <= set(body["data"][0])
    one = await (await client.get(f"/v1/models/{body['data'][0]['id']}")).json()
    assert one["id"] == body["data"][0]["id"] and one["object"] == "model"


async def test_unknown_model_is_404_when_models_are_enforced(
    make_app: Any, aiohttp_client: Client, tmp_path: Path
) -> None:
    catalog = tmp_path / "models.yaml"
    catalog.write_text("models:\n  m1: {owned_by: me}\n")
    client = await aiohttp_client(make_app(Settings(models_file=catalog, strict_models=True)))
    response = await client.post("/v1/chat/completions", json={**VALID, "model": "gpt-x"})
    assert response.status == 404
    body: dict[str, Any] = await response.json()
    assert body["error"]["code"] == "model_not_found"
    assert "gpt-x" in body["error"]["message"]
    assert (await client.get("/v1/models/gpt-x")).status == 404
    ok = await client.post("/v1/chat/completions", json={**VALID, "model": "m1"})
    assert ok.status == 200


async def test_any_model_is_accepted_by_default(client: TestClient) -> None:
    response = await client.post("/v1/chat/completions", json={**VALID, "model": "my-own-model"})
    assert response.status == 200
    assert (await response.json())["model"] == "my-own-model"


async def test_stream_framing_bytes(client: TestClient) -> None:
    response = await client.post("/v1/chat/completions", json={**VALID, "stream": True})
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    raw = await response.read()
    stream = read_stream(raw)  # the SSE rules mockllm conform holds every server to
    assert stream.problems == {} and stream.finished and stream.chunks
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: {") for e in events[:-2])
    assert b"\r\n" not in raw


async def test_every_response_has_a_request_id(client: TestClient) -> None:
    ids = set()
    for method, path in [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/nowhere"),
        ("POST", "/v1/chat/completions?stream"),
    ]:
        response = await client.request(method, path, json=VALID)
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 4
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", rid) for rid in ids), ids


async def test_strict_without_scenario_files_answers_nothing_by_itself(
    make_app: Any, aiohttp_client: Client
) -> None:
    client = await aiohttp_client(make_app(Settings(strict=True)))
    response = await client.post("/v1/chat/completions", json=VALID)
    assert response.status == 404
    assert (await response.json())["responseStatus"]["errorCode"] == "NoScenarioMatched"


async def test_cors_preflight_and_headers_for_browser_apps(client: TestClient) -> None:
    preflight = await client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type, authorization"
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    for body in (VALID, {**VALID, "stream": True}, {"model": "m"}):
        response = await client.post(
            "/v1/chat/completions", json=body, headers={"Origin": "http://localhost:5173"}
        )
        await response.read()
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "x-request-id" in response.headers["Access-Control-Expose-Headers"]
    models = await client.options("/v1/models", headers={"Origin": "http://x"})
    assert models.status == 204


async def test_no_cors_when_turned_off(make_app: Any, aiohttp_client: Client) -> None:
    client = await aiohttp_client(make_app(Settings(cors=False)))
    preflight = await client.options("/v1/chat/completions", headers={"Origin": "http://x"})
    assert preflight.status == 405
    response = await client.post("/v1/chat/completions", json=VALID, headers={"Origin": "http://x"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_leaves_the_control_api_private(client: TestClient) -> None:
    preflight = await client.options(
        "/__mockllm/scenarios",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers
    health = await client.get("/__mockllm/health", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in health.headers
