"""What the Redis state store adds to the contract (tests/engines/test_state_contract.py):
Redis's own clock for budgets, batched writes, a quick 503 when Redis is gone, and the
journal's JSON round trip."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis_server import RedisServer

from mockllm.errors import FieldError, StateUnavailableError
from mockllm.journal import Exchange
from mockllm.state import BudgetSpend, open_store, redacted_url
from mockllm.state.redis_store import RedisStore


@pytest.fixture()
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    made = RedisStore(redis_server.url, prefix=f"unit:{uuid.uuid4().hex}:")
    yield made
    await made.close()


async def test_budgets_use_redis_time_so_every_worker_agrees(redis_server: RedisServer) -> None:
    prefix = f"clock:{uuid.uuid4().hex}:"
    one, two = (RedisStore(redis_server.url, prefix=prefix) for _ in range(2))
    budget = [BudgetSpend(2, 30.0, 1)]
    try:
        # The callers' clocks disagree wildly; the buckets do not care.
        assert (await one.spend("k", budget, 5.0)).allowed
        assert (await two.spend("k", budget, 1e9)).allowed
        refused = await one.spend("k", budget, -3.0)
        assert not refused.allowed and refused.used[0] == pytest.approx(2.0, abs=0.01)
    finally:
        await one.close()
        await two.close()


async def test_uncounted_uses_are_batched_and_read_back(store: RedisStore) -> None:
    for _ in range(3):
        store.count("stats-only")
    assert (await store.uses())["stats-only"] == 3
    await store.forget_uses(["stats-only"])
    assert "stats-only" not in await store.uses()


async def test_an_unreachable_redis_is_a_quick_503_naming_it() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{port}/0"
    store = open_store(url)
    started = time.monotonic()
    with pytest.raises(StateUnavailableError) as info:
        await store.take("s", None, 1)
    assert time.monotonic() - started < 3
    error = info.value
    assert error.status == 503 and redacted_url(url) in error.message
    assert "secret" not in error.message
    health = dict(await store.health())
    assert health["ok"] is False and health["store"] == redacted_url(url)
    await store.close()


def test_exchanges_round_trip_through_json() -> None:
    original = Exchange(
        seq=3,
        request_id="req_1",
        time=1.5,
        method="POST",
        path="/v1/chat/completions",
        query={"a": "1"},
        headers={"Content-Type": "application/json"},
        body={"model": "m", "messages": []},
        raw_body=None,
        field_errors=(
            FieldError("Messages", "messages", "NotEmpty", "invalid_value", "must not be empty"),
        ),
        scenario=None,
        near_misses=({"scenario": "x", "source": "", "failed": []},),
        status=400,
        response=None,
        error="bad",
        stream=False,
        duration_ms=0.25,
        tags={"worker": 1},
        error_code="BadRequest",
    )
    again = Exchange.from_json(original.to_json())
    assert again.to_json() == original.to_json()
    assert again.field_errors == original.field_errors and not again.valid


async def test_a_batch_that_meets_a_missing_script_runs_each_call_once(store: RedisStore) -> None:
    # A worker's first batch can meet Redis with one script loaded and another not (a
    # fresh or restarted Redis, or another worker loading it meanwhile): only the calls
    # Redis refused may run again, or a use count or a budget is spent twice.
    import asyncio

    from mockllm.state import redis_store

    client = store._redis()
    await client.script_flush()
    await client.script_load(redis_store._TAKE)
    took, spent = await asyncio.gather(
        store.take("once", None, None), store.spend("key", [BudgetSpend(10, 6.0, 1)], 0.0)
    )
    assert took == 0 and spent.allowed
    assert (await store.uses())["once"] == 1
    again = await store.spend("key", [BudgetSpend(10, 6.0, 1)], 0.0)
    assert again.used[0] == pytest.approx(1.0, abs=0.01)  # one spend so far, not two


async def test_a_call_that_times_out_is_not_sent_again(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis busy longer than the read timeout (a starved server looks the same): the
    # spend times out but still runs once Redis is free; sending it again would spend twice.
    import asyncio

    import redis.asyncio as aioredis

    from mockllm.state import redis_store

    monkeypatch.setattr(redis_store, "_SOCKET_TIMEOUT", 0.5)
    store = RedisStore(redis_server.url, prefix=f"busy:{uuid.uuid4().hex}:")
    other = aioredis.Redis.from_url(redis_server.url)
    budget = [BudgetSpend(10, 6.0, 1)]
    try:
        await store.spend("warm", budget, 0.0)  # connected, scripts loaded
        busy = asyncio.create_task(
            other.eval(
                "local s = redis.call('TIME') local t = s "
                "while (t[1] - s[1]) * 1e6 + (t[2] - s[2]) < 900000 do t = redis.call('TIME') end "
                "return 1",
                0,
            )
        )
        await asyncio.sleep(0.05)
        with pytest.raises(StateUnavailableError):
            await store.spend("key", budget, 0.0)
        await busy
        after = await store.spend("key", budget, 0.0)
        assert after.used[0] == pytest.approx(1.0, abs=0.05)  # the timed-out spend, once
    finally:
        await other.aclose()
        await store.close()
