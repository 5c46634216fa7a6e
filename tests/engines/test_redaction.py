"""No API key in clear wherever the journal goes: the control API, the browser view, the
test handle, the log and Redis keep only a secret header's scheme and last 4 characters
(each end-to-end test here failed before the journal redacted them)."""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from typing import Any

import openai
import pytest
import redis
from redis_server import RedisServer

from mockllm.config import Settings
from mockllm.redaction import is_secret_header, redact_headers, redact_value
from mockllm.server import MockLLMServer

KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789wxyz"
ANTHROPIC_KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-9876"
SECRETS = (
    KEY,
    ANTHROPIC_KEY,
    "cookie-value-1234567890",
    "tok-secret-abcdefghij",
    "hunter2-password-longer",
)
EXTRA = {
    "x-api-key": ANTHROPIC_KEY,
    "Cookie": "session=cookie-value-1234567890",
    "x-auth-token": "tok-secret-abcdefghij",
    "X-Db-Password": "hunter2-password-longer",
    "x-trace": "kept-as-sent",
}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("x-api-key", True),
        ("api-key", True),
        ("X-Goog-Api-Key", True),
        ("x-apikey", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("x-auth-token", True),
        ("x-access_token", True),
        ("x-client-secret", True),
        ("x-db-password", True),
        ("x-ratelimit-remaining-tokens", False),
        ("Content-Type", False),
        ("keep-alive", False),
        ("openai-organization", False),
        ("x-request-id", False),
        ("anthropic-version", False),
    ],
)
def test_which_header_names_hold_a_secret(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (f"Bearer {KEY}", "Bearer ***wxyz"),
        (ANTHROPIC_KEY, "***9876"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic ***ZA=="),
        ("Bearer sk-short", "Bearer ***"),  # too short to show any of it
        ("Bearer ***wxyz", "Bearer ***wxyz"),  # redacted already (read back from Redis)
    ],
)
def test_a_secret_keeps_its_scheme_and_last_four_characters(value: str, kept: str) -> None:
    assert redact_value(value) == kept


def test_headers_without_a_secret_are_kept_as_they_are() -> None:
    headers = {"Content-Type": "application/json"}
    assert redact_headers(headers) is headers


def _ask(server: MockLLMServer) -> str:
    client = openai.OpenAI(
        base_url=server.base_url, api_key=KEY, max_retries=0, default_headers=EXTRA
    )
    completion = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    return str(completion.headers["x-request-id"])


def _get(server: MockLLMServer, path: str) -> str:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as answer:
        return str(answer.read().decode())


def _assert_redacted(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret[-12:] not in text


def test_the_journal_keeps_no_key_in_clear(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mockllm")
    with MockLLMServer(Settings(port=0, verbose=True)) as server:
        request_id = _ask(server)
        listed = _get(server, "/__mockllm/requests")
        one = _get(server, f"/__mockllm/requests/{request_id}")
        [exchange] = server.call(server.state.store.exchanges)
    _assert_redacted(listed)
    _assert_redacted(one)
    _assert_redacted(caplog.text)
    headers = {k.lower(): v for k, v in json.loads(one)["headers"].items()}
    # Recognisable: which key a client used is still told.
    assert headers["authorization"] == "Bearer ***wxyz"
    assert headers["x-api-key"] == "***9876"
    assert headers["cookie"] == "***7890"
    assert headers["x-trace"] == "kept-as-sent"
    assert {k.lower(): v for k, v in exchange.headers.items()} == headers
    _assert_redacted(repr(exchange))


def test_redis_holds_no_key_in_clear(redis_server: RedisServer) -> None:
    prefix = f"redact:{uuid.uuid4().hex}:"
    with MockLLMServer(Settings(port=0, state=redis_server.url, state_prefix=prefix)) as server:
        _ask(server)
        [exchange] = server.call(server.state.store.exchanges)
    assert {k.lower(): v for k, v in exchange.headers.items()}["authorization"] == "Bearer ***wxyz"
    client = redis.Redis.from_url(redis_server.url)
    stored: list[Any] = []
    for key in client.scan_iter(f"{prefix}*"):
        kind = client.type(key)
        if kind == b"list":
            stored.extend(client.lrange(key, 0, -1))
        elif kind == b"string":
            stored.append(client.get(key))
        elif kind == b"hash":
            stored.extend(client.hgetall(key).values())
        elif kind == b"stream":
            stored.extend(repr(entry) for entry in client.xrange(key))
    text = "\n".join(s.decode() if isinstance(s, bytes) else str(s) for s in stored)
    assert "***wxyz" in text  # the journal is there, redacted
    _assert_redacted(text)
