"""Rate limits over HTTP: x-ratelimit-* headers on success, a 429 OpenAI clients retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from mockllm.config import Settings
from mockllm.server import MockLLMServer

Client = Callable[..., Awaitable[TestClient]]
VALID = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_requests_budget_per_key(make_app: Any, aiohttp_client: Client) -> None:
    client = await aiohttp_client(make_app(Settings(rate_limit_rpm=2)))
    first = await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-a"))
    assert first.status == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert (
        await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-a"))
    ).status == 200
    refused = await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-a"))
    assert refused.status == 429
    assert refused.headers["retry-after"] == "30"  # 2 RPM: one request back every 30 s
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    error = (await refused.json())["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert "Limit 2, Used 2, Requested 1" in error["message"]
    other = await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-b"))
    assert other.status == 200
    # An invalid body is refused by validation and spends nothing.
    bad = await client.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini"}, headers=_auth("sk-c")
    )
    assert bad.status == 400
    ok = await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-c"))
    assert ok.headers["x-ratelimit-remaining-requests"] == "1"
    # The control API's reset refills every budget.
    assert (await client.post("/__mockllm/reset")).status == 200
    assert (
        await client.post("/v1/chat/completions", json=VALID, headers=_auth("sk-a"))
    ).status == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_token_budget_counts_the_prompt(
    make_app: Any, aiohttp_client: Client, stream: bool
) -> None:
    client = await aiohttp_client(make_app(Settings(rate_limit_tpm=200)))
    short = await client.post("/v1/chat/completions", json=dict(VALID, stream=stream))
    assert short.status == 200
    remaining = int(short.headers["x-ratelimit-remaining-tokens"])
    assert 150 < remaining < 200
    assert "x-ratelimit-limit-requests" not in short.headers
    huge = dict(VALID, stream=stream, messages=[{"role": "user", "content": "word " * 500}])
    refused = await client.post("/v1/chat/completions", json=huge)
    assert refused.status == 429
    assert refused.headers["x-should-retry"] == "false"
    assert "Request too large" in (await refused.json())["error"]["message"]


def test_the_openai_sdk_raises_rate_limit_error() -> None:
    with MockLLMServer(Settings(port=0, rate_limit_rpm=1, rate_limit_per_key=False)) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        sdk.chat.completions.create(**VALID)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(**VALID)  # type: ignore[call-overload]
        assert caught.value.code == "rate_limit_exceeded"
        assert 55_000 < int(caught.value.response.headers["retry-after-ms"]) <= 60_000
