"""``mockllm serve --workers 4 --state redis://...``: four processes, one port, one state.

Each test talks to a real multi-worker server (subprocesses) on a real redis-server, on
fresh connections, so the kernel spreads the requests over the workers. The journal's
``worker`` tag says which worker answered each request.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from redis_server import RedisServer, find_redis_server

WORKERS = 4
STEPS = 256
RPM = 100


class WorkerServer:
    """A ``mockllm serve --workers N`` subprocess; ``url`` once every worker listens."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockllm", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output: list[str] = []
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("mockllm:") and "workers (pids" in line:
                break
        found = re.search(r"serving on (http://\S+)", "".join(self.output))
        if found is None:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.output))
        self.url = found.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _scenarios(folder: Path) -> Path:
    path = folder / "workers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "scenarios": [
                    {
                        "name": "steps",
                        "when": {"last_user_message": {"contains": "next step"}},
                        "sequence": [{"content": f"step {i}"} for i in range(STEPS)],
                        "after": "fail",
                    },
                    {
                        "name": "five",
                        "when": {"last_user_message": {"contains": "five times"}},
                        "times": 5,
                        "reply": {"content": "one of five"},
                    },
                    {
                        "name": "ten-steps",
                        "when": {"last_user_message": {"contains": "survive"}},
                        "sequence": [{"content": f"survivor {i}"} for i in range(10)],
                        "after": "fail",
                    },
                    {"name": "anything", "priority": -1, "reply": {"content": "default"}},
                ]
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def workers(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerServer]:
    """Four workers sharing one port and the session's Redis (under their own prefix)."""
    path = _scenarios(tmp_path_factory.mktemp("workers"))
    server = WorkerServer(
        "--workers",
        str(WORKERS),
        "--state",
        redis_server.url,
        "--state-prefix",
        f"workers:{uuid.uuid4().hex}:",
        "--scenarios",
        str(path),
        "--rate-limit-rpm",
        str(RPM),
    )
    yield server
    server.stop()


@pytest.fixture()
async def fresh() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection per request (no keep-alive), so the kernel
    picks a worker for each."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def chat(
    session: aiohttp.ClientSession, url: str, text: str, *, key: str | None = None
) -> tuple[int, dict[str, Any], Any]:
    """One chat request: status, headers, body. Each client has its own API key unless
    told (the server's rate limit is per key)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {key or uuid.uuid4().hex}"}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.json()


def content(body: Any) -> str:
    return str(body["choices"][0]["message"]["content"])


async def journal(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(f"{url}/__mockllm/requests") as response:
        assert response.status == 200
        return list((await response.json())["requests"])


async def health(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(f"{url}/__mockllm/health") as response:
        return dict(await response.json())


async def test_each_sequence_step_is_served_exactly_once(
    workers: WorkerServer, fresh: aiohttp.ClientSession
) -> None:
    # 64 concurrent clients take the 256 steps and one more between them.
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(STEPS + 1):
        queue.put_nowait(n)
    answers: list[tuple[int, Any]] = []

    async def client() -> None:
        key = uuid.uuid4().hex
        while not queue.empty():
            queue.get_nowait()
            status, _, body = await chat(fresh, workers.url, "next step please", key=key)
            answers.append((status, body))

    await asyncio.gather(*(client() for _ in range(64)))
    served = sorted(content(body) for status, body in answers if status == 200)
    assert served == sorted(f"step {i}" for i in range(STEPS))
    [(status, error)] = [(s, b) for s, b in answers if s != 200]
    assert status == 500
    assert error["responseStatus"]["errorCode"] == "ScenarioExhausted"
    assert error["error"]["code"] == "scenario_exhausted"


async def test_times_five_answers_five_times_across_workers(
    workers: WorkerServer, fresh: aiohttp.ClientSession
) -> None:
    answers = await asyncio.gather(
        *(chat(fresh, workers.url, "say it five times") for _ in range(24))
    )
    assert [content(b) for _, _, b in answers].count("one of five") == 5
    assert all(status == 200 for status, _, _ in answers)


async def test_the_rate_limit_admits_its_budget_across_workers(
    workers: WorkerServer, fresh: aiohttp.ClientSession
) -> None:
    key = uuid.uuid4().hex
    started = time.monotonic()
    answers = await asyncio.gather(
        *(chat(fresh, workers.url, "hello", key=key) for _ in range(RPM + 30))
    )
    elapsed = time.monotonic() - started
    admitted = [h for status, h, _ in answers if status == 200]
    refused = [h for status, h, _ in answers if status == 429]
    assert len(admitted) + len(refused) == RPM + 30
    # The bucket refills continuously (one request per 0.6 s, as OpenAI's does): exactly
    # the budget, plus what came back while the burst was being answered.
    assert RPM <= len(admitted) <= RPM + int(elapsed / (60 / RPM)) + 1
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for h in admitted)
    assert (remaining[0], remaining[-1]) == (0, RPM - 1)
    # No two admitted requests saw the same count, beyond what refilled meanwhile.
    assert len(set(remaining)) >= RPM - (len(admitted) - RPM)
    assert all(
        h["x-ratelimit-remaining-requests"] == "0" and "retry-after" in h for h in refused
    ), refused[:2]


async def test_a_scenario_added_to_one_worker_is_served_by_all_within_100ms(
    workers: WorkerServer, fresh: aiohttp.ClientSession
) -> None:
    name = f"late-{uuid.uuid4().hex[:8]}"
    document = {
        "name": name,
        "when": {"last_user_message": {"contains": name}},
        "reply": {"content": "added at run time"},
    }
    async with fresh.post(f"{workers.url}/__mockllm/scenarios", json=document) as response:
        assert response.status == 201
    await asyncio.sleep(0.1)
    answers = await asyncio.gather(
        *(chat(fresh, workers.url, f"are you {name}?") for _ in range(48))
    )
    assert [content(b) for _, _, b in answers] == ["added at run time"] * 48
    ids = {h["x-request-id"] for _, h, _ in answers}
    # The journal, read from any worker, lists every worker's requests.
    seen = [await journal(fresh, workers.url) for _ in range(6)]
    for entries in seen:
        ours = [e for e in entries if e["request_id"] in ids]
        assert len(ours) == 48
        assert {e["tags"]["worker"] for e in ours} == set(range(WORKERS))
    answered_by = {(await health(fresh, workers.url))["worker"] for _ in range(24)}
    assert len(answered_by) >= 2


async def test_a_killed_worker_loses_no_state_and_the_others_keep_serving(
    workers: WorkerServer, fresh: aiohttp.ClientSession
) -> None:
    before = [await chat(fresh, workers.url, "survive this") for _ in range(3)]
    assert [content(b) for _, _, b in before] == ["survivor 0", "survivor 1", "survivor 2"]
    victim = await health(fresh, workers.url)
    os.kill(victim["pid"], signal.SIGKILL)
    rest: list[str] = []
    for _ in range(40):
        try:
            status, _, body = await chat(fresh, workers.url, "survive this")
        except aiohttp.ClientError:
            continue  # a connection the kernel had queued for the killed worker
        rest.append(content(body) if status == 200 else body["error"]["code"])
        if status != 200:
            break
    assert rest == [f"survivor {i}" for i in range(3, 10)] + ["scenario_exhausted"]
    kept = {e["request_id"] for e in await journal(fresh, workers.url)}
    assert {h["x-request-id"] for _, h, _ in before} <= kept
    # The supervisor starts the worker again.
    deadline = time.monotonic() + 20
    pids: dict[int, int] = {}
    while time.monotonic() < deadline and victim["worker"] not in pids:
        found = await health(fresh, workers.url)
        if found["pid"] != victim["pid"]:
            pids[found["worker"]] = found["pid"]
    assert victim["worker"] in pids


async def test_a_redis_restart_gives_503s_then_service_resumes(
    fresh: aiohttp.ClientSession,
) -> None:
    redis = RedisServer(find_redis_server()).start()
    # A rate limit makes every request use the store (a scenario without counters
    # needs none: such requests are answered while Redis is down).
    server = WorkerServer("--workers", "2", "--state", redis.url, "--rate-limit-rpm", "10000")
    try:
        status, _, _ = await chat(fresh, server.url, "hello")
        assert status == 200
        redis.stop()
        for _ in range(4):
            started = time.monotonic()
            status, headers, body = await chat(fresh, server.url, "hello")
            assert time.monotonic() - started < 3
            assert status == 503
            assert redis.url in body["error"]["message"]
            assert body["error"]["code"] == "state_store_unavailable"
            assert body["responseStatus"]["errorCode"] == "ServiceUnavailable"
        assert (await health(fresh, server.url))["state"]["ok"] is False
        redis.start()
        deadline = time.monotonic() + 10
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = [(await chat(fresh, server.url, "hello"))[0] for _ in range(8)]
            if statuses == [200] * 8:
                break
            await asyncio.sleep(0.1)
        assert statuses == [200] * 8
        # Both workers listen for changes again: a scenario added now reaches both.
        await asyncio.sleep(0.5)
        document = {"name": "after-restart", "reply": {"content": "back"}, "priority": 9}
        async with fresh.post(f"{server.url}/__mockllm/scenarios", json=document) as response:
            assert response.status == 201
        await asyncio.sleep(0.1)
        answers = await asyncio.gather(*(chat(fresh, server.url, "hi") for _ in range(16)))
        assert [content(b) for _, _, b in answers] == ["back"] * 16
    finally:
        server.stop()
        redis.stop()
