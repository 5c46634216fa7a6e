"""The journal live, without a browser: the feed, its event stream and one exchange in full.

The browser view (tests/http/test_ui.py) is built on these; here they are checked on the wire:
what a listener costs, that a slow or vanished one is dropped, that the stream carries
every exchange and clearing, and that a stream's chunks shown later are the chunks sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from redis_server import RedisServer

from mockllm.config import Settings
from mockllm.http.context import STATE
from mockllm.http.live import LiveFeed

Client = Callable[..., Awaitable[TestClient]]
CHAT = "/v1/chat/completions"
STREAM = "/__mockllm/requests/stream"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


async def next_event(response: ClientResponse, timeout: float = 5.0) -> tuple[str, Any]:
    """The next named event of an SSE response (comments and retry lines skipped)."""
    name, data, has_data = "message", None, False
    while True:
        line = (await asyncio.wait_for(response.content.readline(), timeout)).decode()
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: "):
            data, has_data = json.loads(line[6:]), True
        elif line == "\n" and has_data:
            return name, data
        elif line == "":
            raise EOFError("the stream ended")


# --------------------------------------------------------------------------- the feed


async def test_the_feed_is_idle_without_listeners_and_fans_out_to_each() -> None:
    feed = LiveFeed()
    assert not feed.listening
    feed.publish("exchange", 1)  # nobody listens: nothing kept anywhere
    first, second = feed.subscribe(), feed.subscribe()
    assert feed.listening
    feed.publish("exchange", 2)
    feed.publish("cleared")
    assert await first.take(0.1) == [("exchange", 2), ("cleared", None)]
    assert await second.take(0.1) == [("exchange", 2), ("cleared", None)]
    assert await first.take(0.01) == []  # nothing new: waits, then nothing
    feed.unsubscribe(first)
    feed.unsubscribe(second)
    feed.unsubscribe(second)  # twice is harmless
    assert not feed.listening


async def test_a_listener_that_falls_behind_is_cut_off_not_waited_for() -> None:
    feed = LiveFeed()
    slow = feed.subscribe(limit=3)
    quick = feed.subscribe(limit=100)
    for n in range(5):
        feed.publish("exchange", n)  # never blocks, however far behind ``slow`` is
    assert slow.ended == "lagged"
    assert await slow.take(0.01) == []
    assert [payload for _, payload in await quick.take(0.01)] == [0, 1, 2, 3, 4]
    assert feed.listening  # ``quick`` still listens
    feed.close()
    assert quick.ended == "closed" and not feed.listening


# --------------------------------------------------------------------------- the stream


async def test_the_stream_sends_a_snapshot_then_each_exchange_and_clearing(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app())
    await client.post(CHAT, json=chat("before anyone listened"))
    events = await client.get(STREAM)
    assert events.headers["Content-Type"].startswith("text/event-stream")
    name, snapshot = await next_event(events)
    assert name == "snapshot" and snapshot["journal_size"] == 1000
    assert [r["text"] for r in snapshot["requests"]] == ["before anyone listened"]

    await client.post(CHAT, json=chat("hello there", stream=True))
    name, rows = await next_event(events)
    assert name == "exchanges"
    (row,) = rows
    assert row["text"] == "hello there" and row["stream"] and row["status"] == 200
    assert row["scenario"] == "default" and row["model"] == "gpt-4o-mini"

    await client.post(CHAT, json={"model": "gpt-4o-mini", "messages": []})  # invalid
    name, rows = await next_event(events)
    assert rows[0]["status"] == 400 and rows[0]["invalid"] >= 1

    assert (await client.delete("/__mockllm/requests")).status == 200
    assert (await next_event(events))[0] == "cleared"
    assert (await client.post("/__mockllm/reset")).status == 200
    assert (await next_event(events))[0] == "cleared"
    events.close()


async def test_a_burst_arrives_in_batches(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    events = await client.get(STREAM)
    await next_event(events)  # the snapshot
    await asyncio.gather(*(client.post(CHAT, json=chat(f"burst {n}")) for n in range(50)))
    seen: list[str] = []
    batches = 0
    while len(seen) < 50:
        name, rows = await next_event(events)
        assert name == "exchanges"
        batches += 1
        seen.extend(r["text"] for r in rows)
    assert sorted(seen) == sorted(f"burst {n}" for n in range(50))
    assert batches < 50  # several rows per event: the browser updates once per batch
    events.close()


async def test_a_stream_that_falls_behind_is_told_so_and_ended(
    aiohttp_client: Client, make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    feed = app[STATE].live
    small = LiveFeed.subscribe
    monkeypatch.setattr(LiveFeed, "subscribe", lambda self: small(self, limit=3))
    events = await client.get(STREAM)
    await next_event(events)
    await client.post(CHAT, json=chat("one"))
    (exchange,) = await app[STATE].store.exchanges()
    for _ in range(10):  # faster than any stream can be written: no await between them
        feed.publish("exchange", exchange)
    name, data = await next_event(events)
    assert name == "lagged" and data["reconnect_ms"] > 0
    assert await events.content.read() == b""  # the server ended it; EventSource reconnects
    assert not feed.listening


async def test_a_browser_that_went_away_is_dropped(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    feed = app[STATE].live
    events = await client.get(STREAM)
    await next_event(events)
    assert feed.listening
    events.close()  # the tab closed
    for _ in range(50):
        await client.post(CHAT, json=chat("anyone?"))  # wakes the stream, which notices
        if not feed.listening:
            break
        await asyncio.sleep(0.02)
    assert not feed.listening


async def test_requests_cost_no_feed_work_while_nobody_listens(
    aiohttp_client: Client, make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    calls: list[str] = []
    monkeypatch.setattr(LiveFeed, "publish", lambda self, kind, payload=None: calls.append(kind))
    await client.post(CHAT, json=chat("unwatched"))
    assert calls == []


# --------------------------------------------------------------------------- one exchange


async def test_one_exchange_in_full_with_reply_headers(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app())
    reply = await client.post(CHAT, json=chat("Hello"))
    request_id = reply.headers["x-request-id"]
    detail = await (await client.get(f"/__mockllm/requests/{request_id}")).json()
    assert detail["request_id"] == request_id and detail["scenario"] == "default"
    assert detail["body"]["messages"][0]["content"] == "Hello"
    assert detail["reply_headers"]["Content-Type"].startswith("application/json")
    assert detail["reply_headers"]["x-request-id"] == request_id
    assert detail["chunks"] is None
    missing = await client.get("/__mockllm/requests/req_nope")
    assert missing.status == 404
    assert "req_nope" in (await missing.json())["error"]["message"]


async def test_a_streams_chunks_are_the_ones_sent_with_their_timing(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app())
    await client.post(
        "/__mockllm/scenarios",
        json={
            "scenarios": [
                {
                    "name": "paced",
                    "when": {"last_user_message": {"contains": "paced"}},
                    "reply": {
                        "content": "one two three four",
                        "timing": {
                            "ttft_ms": 30,
                            "tokens_per_second": 100,
                            "chunk": "chars",
                            "chunk_size": 3,
                        },
                    },
                }
            ]
        },
    )
    reply = await client.post(
        CHAT, json=chat("paced please", stream=True, stream_options={"include_usage": True})
    )
    sent = [
        json.loads(line[6:])
        for line in (await reply.text()).splitlines()
        if line.startswith("data: {")
    ]
    detail = await (await client.get(f"/__mockllm/requests/{reply.headers['x-request-id']}")).json()
    assert [c["chunk"] for c in detail["chunks"]] == sent
    times = [c["at_ms"] for c in detail["chunks"]]
    assert times[0] >= 25 and times == sorted(times)
    assert times[-1] - times[0] >= 0.5 * 7.5 * (len(times) - 2)  # 3 chars = 3/4 token a chunk
    assert detail["reply_headers"]["Content-Type"] == "text/event-stream; charset=utf-8"

    quick = await client.post(CHAT, json=chat("quick", stream=True))
    sent = [
        json.loads(line[6:])
        for line in (await quick.text()).splitlines()
        if line.startswith("data: {")
    ]
    detail = await (await client.get(f"/__mockllm/requests/{quick.headers['x-request-id']}")).json()
    assert [c["chunk"] for c in detail["chunks"]] == sent
    assert len({c["at_ms"] for c in detail["chunks"]}) == 1  # one write carried them all


# --------------------------------------------------------------------------- the page


async def test_the_page_is_one_self_contained_response(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app())
    page = await client.get("/__mockllm/ui")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert "<style>" in html and "<script>" in html
    assert 'src="' not in html and 'href="http' not in html  # nothing fetched elsewhere
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    journal = await (await client.get("/__mockllm/requests")).json()
    assert journal["total"] == 0  # the page itself is not journaled


async def test_the_page_and_stream_take_the_admin_token_in_the_query(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app(Settings(admin_token="s3cret")))
    assert (await client.get("/__mockllm/ui")).status == 401
    assert (await client.get("/__mockllm/ui?token=wrong")).status == 401
    assert (await client.get("/__mockllm/ui?token=s3cret")).status == 200
    events = await client.get(f"{STREAM}?token=s3cret")
    assert events.status == 200 and (await next_event(events))[0] == "snapshot"
    events.close()
    # Everywhere else the token must come as a header, as before.
    assert (await client.get("/__mockllm/requests?token=s3cret")).status == 401
    assert (await client.post("/__mockllm/reset?token=s3cret")).status == 401
    assert (
        await client.get("/__mockllm/requests", headers={"Authorization": "Bearer s3cret"})
    ).status == 200


async def test_the_page_is_off_beyond_loopback_without_a_token(
    aiohttp_client: Client, make_app: Callable[..., Any]
) -> None:
    client = await aiohttp_client(make_app(Settings(host="0.0.0.0")))
    assert (await client.get("/__mockllm/ui")).status == 404
    assert (await client.get(STREAM)).status == 404


# --------------------------------------------------------------------------- shared store


async def test_a_stream_on_one_process_shows_every_process_sharing_the_store(
    aiohttp_client: Client, make_app: Callable[..., Any], redis_server: RedisServer
) -> None:
    # Two apps on one Redis stand for two hosts (tests/deploy/test_hosts.py runs real ones).
    settings = Settings(state=redis_server.url, state_prefix=f"live:{uuid.uuid4().hex}:")
    watched, other = make_app(settings), make_app(settings)
    watched_client, other_client = await aiohttp_client(watched), await aiohttp_client(other)
    probe = aioredis.Redis.from_url(redis_server.url)
    channel = settings.state_prefix + "journal:live"
    try:
        events = await watched_client.get(STREAM)
        name, snapshot = await next_event(events)
        assert name == "snapshot" and snapshot["requests"] == []
        assert not watched[STATE].live.listening  # the request path publishes nothing
        ids = []
        for client, text in ((other_client, "from the other"), (watched_client, "from here")):
            ids.append((await client.post(CHAT, json=chat(text))).headers["x-request-id"])
        seen: list[str] = []
        while len(seen) < 2:
            name, rows = await next_event(events)
            assert name == "exchanges"
            seen.extend(row["request_id"] for row in rows)
        assert sorted(seen) == sorted(ids)  # each once,
        # in the journal's order (each process writes its batch after answering)
        assert seen == [e.request_id for e in await watched[STATE].store.exchanges()]
        assert (await other_client.delete("/__mockllm/requests")).status == 200
        assert (await next_event(events))[0] == "cleared"  # emptied by the other process
        events.close()
        # Nobody listens any more: the writers' script publishes nothing.
        for _ in range(100):
            await other_client.post(CHAT, json=chat("anyone?"))  # wakes the stream
            if not (await probe.pubsub_numsub(channel))[0][1]:
                break
            await asyncio.sleep(0.02)
        assert (await probe.pubsub_numsub(channel))[0][1] == 0
    finally:
        await probe.aclose()
