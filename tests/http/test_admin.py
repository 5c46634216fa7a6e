"""The /__mockllm/ control API: journal, scenarios at run time, reset, and who may call it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mockllm.config import Settings
from mockllm.http.control import admin_enabled, is_loopback
from mockllm.server import MockLLMServer

Client = Callable[..., Awaitable[TestClient]]
CHAT = "/v1/chat/completions"
ADMIN = "/__mockllm"
JOURNAL_SIZE = 5


def chat(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


WEATHER = {
    "name": "weather",
    "when": {"last_user_message": {"contains": "weather"}},
    "sequence": [{"content": "Sunny."}, {"content": "Rainy."}],
}


class Api:
    """A plain HTTP client for one server, as a script or another process would use."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        body = raw if raw is not None else (json.dumps(data).encode() if data is not None else None)
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Content-Type": content_type, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, body
        return body

    def content(self, text: str) -> str:
        status, body = self.call("POST", CHAT, chat(text))
        assert status == 200, body
        return body["choices"][0]["message"]["content"]

    def seqs(self, query: str = "") -> list[int]:
        return [r["seq"] for r in self.get(f"{ADMIN}/requests?{query}")["requests"]]


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    # One server for the module: building an app takes a while, the control API resets it.
    with MockLLMServer(Settings(port=0, seed=3, journal_size=JOURNAL_SIZE)) as running:
        yield running


@pytest.fixture()
def api(server: MockLLMServer) -> Api:
    client = Api(server.url)
    assert client.call("DELETE", f"{ADMIN}/scenarios")[0] == 200
    assert client.call("POST", f"{ADMIN}/reset")[0] == 200
    return client


def test_health(api: Api) -> None:
    body = api.get(f"{ADMIN}/health")
    assert body["status"] == "ok"
    assert (body["journal"], body["journal_size"]) == (0, JOURNAL_SIZE)


def test_journal_newest_first_filtered_and_limited(api: Api) -> None:
    api.call("POST", f"{ADMIN}/scenarios", WEATHER)
    api.content("hello")
    api.content("the weather?")
    api.call("POST", CHAT, {"model": "gpt-4o", "messages": []})  # invalid: 400
    all_requests = api.get(f"{ADMIN}/requests")["requests"]
    # Newest first, and the control API's own calls are not journalled.
    seqs = [r["seq"] for r in all_requests]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 3
    newest, weather, hello = seqs

    assert api.seqs("scenario=weather") == [weather]
    assert api.seqs("status=400") == [newest]
    assert api.seqs("model=gpt-4o") == [newest]
    assert api.seqs("status=200&model=gpt-4o-mini") == [weather, hello]
    assert api.seqs("limit=2") == [newest, weather]
    assert api.seqs(f"path={CHAT}") == seqs
    invalid = all_requests[0]
    assert invalid["valid"] is False and invalid["field_errors"]


@pytest.mark.parametrize("query", ["status=ok", "limit=-1", "limit=x"])
def test_bad_journal_filters_are_400(api: Api, query: str) -> None:
    status, body = api.call("GET", f"{ADMIN}/requests?{query}")
    assert status == 400
    assert body["error"]["param"] == query.split("=")[0]


def test_delete_requests_clears_the_journal(api: Api) -> None:
    api.content("hello")
    assert api.call("DELETE", f"{ADMIN}/requests")[1]["cleared"] == 1
    assert api.seqs() == []


def test_journal_keeps_the_newest_journal_size_requests(api: Api) -> None:
    texts = [f"message {i}" for i in range(JOURNAL_SIZE + 2)]
    for text in texts:
        api.content(text)
    kept = api.get(f"{ADMIN}/requests")["requests"]
    assert [r["body"]["messages"][0]["content"] for r in kept] == texts[::-1][:JOURNAL_SIZE]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (json.dumps(WEATHER), "application/json"),
        (json.dumps({"scenarios": [WEATHER]}), "application/json"),
        (
            "name: weather\nwhen: {last_user_message: {contains: weather}}\n"
            "sequence:\n  - content: Sunny.\n  - content: Rainy.\n",
            "application/yaml",
        ),
    ],
)
def test_add_scenarios_at_run_time(api: Api, data: str, content_type: str) -> None:
    status, body = api.call(
        "POST", f"{ADMIN}/scenarios", raw=data.encode(), content_type=content_type
    )
    assert (status, body["added"]) == (201, ["weather"])
    assert api.content("How is the weather?") == "Sunny."
    assert api.content("And the weather now?") == "Rainy."
    listed = api.get(f"{ADMIN}/scenarios")["scenarios"]
    weather = next(s for s in listed if s["name"] == "weather")
    assert (weather["uses"], weather["sequence"]) == (2, 2)


@pytest.mark.parametrize(
    ("data", "content_type", "needle"),
    [
        (json.dumps({"name": "x", "when": {"colour": "red"}}), "application/json", "colour"),
        (json.dumps({"name": "x", "reply": {"contnet": "hi"}}), "application/json", "contnet"),
        ("name: x\nreply: [unclosed", "application/yaml", "x"),
        ("{not json", "application/json", "JSON"),
        ("", "application/json", "scenario document"),
    ],
)
def test_invalid_scenarios_are_400_naming_the_problem(
    api: Api, data: str, content_type: str, needle: str
) -> None:
    status, body = api.call(
        "POST", f"{ADMIN}/scenarios", raw=data.encode(), content_type=content_type
    )
    assert status == 400
    assert needle in body["error"]["message"]
    assert body["responseStatus"]["message"] == body["error"]["message"]


def test_delete_scenarios(api: Api) -> None:
    loaded = len(api.get(f"{ADMIN}/scenarios")["scenarios"])
    api.call("POST", f"{ADMIN}/scenarios", [WEATHER, {**WEATHER, "name": "other"}])
    assert api.call("DELETE", f"{ADMIN}/scenarios/weather")[0] == 200
    status, body = api.call("DELETE", f"{ADMIN}/scenarios/weather")
    assert status == 404
    assert "weather" in body["error"]["message"]
    names = [s["name"] for s in api.get(f"{ADMIN}/scenarios")["scenarios"]]
    assert "other" in names and "weather" not in names
    api.call("DELETE", f"{ADMIN}/scenarios")
    assert len(api.get(f"{ADMIN}/scenarios")["scenarios"]) == loaded


def test_reset_restarts_sequences_and_clears_the_journal(api: Api) -> None:
    api.call("POST", f"{ADMIN}/scenarios", WEATHER)
    assert api.content("weather 1") == "Sunny."
    assert api.call("POST", f"{ADMIN}/reset")[0] == 200
    assert api.get(f"{ADMIN}/health")["journal"] == 0
    # The scenario added at run time stays; its sequence starts over.
    assert api.content("weather 2") == "Sunny."


@pytest.mark.parametrize(
    ("host", "token", "expected"),
    [
        ("127.0.0.1", None, {None: 200, "Bearer guess": 200}),
        ("0.0.0.0", None, {None: 404, "Bearer guess": 404}),
        (
            "0.0.0.0",
            "s3cret",
            {None: 401, "Bearer wrong": 401, "Basic s3cret": 401, "Bearer s3cret": 200},
        ),
        ("127.0.0.1", "s3cret", {None: 401, "Bearer s3cre": 401, "bearer s3cret": 200}),
    ],
)
async def test_who_may_call_the_control_api(
    make_app: Any,
    aiohttp_client: Client,
    host: str,
    token: str | None,
    expected: dict[str | None, int],
) -> None:
    # The test client binds 127.0.0.1 whatever the settings say; the guard reads settings.
    client = await aiohttp_client(make_app(Settings(host=host, admin_token=token)))
    for authorization, status in expected.items():
        headers = {"Authorization": authorization} if authorization else {}
        for method, path in (
            ("POST", "/reset"),
            ("GET", "/requests"),
            ("DELETE", "/scenarios/nope"),
            ("GET", "/scenarios"),
        ):
            response = await client.request(method, ADMIN + path, headers=headers)
            want = 404 if path == "/scenarios/nope" and status == 200 else status
            assert response.status == want, (authorization, method, path)
            if status == 401:
                body = await response.json()
                assert body["responseStatus"]["errorCode"] == "Unauthorized"
        # The health probe answers everyone, but only the token's holder learns more.
        health = await client.get(ADMIN + "/health", headers=headers)
        assert health.status == 200
        body = await health.json()
        assert (body == {"status": "ok"}) is (status != 200), (authorization, body)
        assert body["status"] == "ok"
    # The chat endpoint never needs the admin token.
    assert (await client.post(CHAT, json=chat("hi"))).status == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert admin_enabled(Settings(host=host)) is loopback
    assert admin_enabled(Settings(host=host, admin_token="t")) is True


# --------------------------------------------------------------------------- another process


class _Served:
    """``mockllm serve`` in another process; ``out``/``err`` once it stopped (SIGINT)."""

    def __init__(self, *options: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("MOCKLLM_PORT", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mockllm", "serve", "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out = self.err = ""

    def __enter__(self) -> Api:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("mockllm serving on http://127.0.0.1:"), line
        return Api(line.split()[3])

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.out, self.err = self.proc.communicate(timeout=15)
        assert self.proc.returncode == 0, self.err
        assert "mockllm stopped" in self.out
        assert "Traceback" not in self.err


def test_a_server_in_another_process_driven_over_http() -> None:
    served = _Served("--seed", "5")
    with served as api:
        status, added = api.call("POST", f"{ADMIN}/scenarios", WEATHER)
        assert (status, added["added"]) == (201, ["weather"])
        assert api.content("weather please") == "Sunny."
        journal = api.get(f"{ADMIN}/requests?scenario=weather")["requests"]
        assert [r["body"]["messages"][0]["content"] for r in journal] == ["weather please"]
        assert api.call("POST", f"{ADMIN}/reset")[0] == 200
        assert api.get(f"{ADMIN}/health")["journal"] == 0
        assert api.content("weather again") == "Sunny."  # the sequence restarted
    # One log line per request; the control API's own calls are not logged.
    assert "POST /v1/chat/completions 200 scenario=weather " in served.err
    assert "/__mockllm/" not in served.err


def test_a_quiet_server_answers_without_an_access_line() -> None:
    served = _Served("--quiet")
    with served as api:
        assert api.content("hello there")  # answered as usual
        assert api.get(f"{ADMIN}/health")["journal"] == 1  # and journaled
    assert "POST /v1/chat/completions" not in served.err
