"""Several mockllm hosts on one Redis: each host a network namespace with its own address
(``tests/netns.py``), one running redis-server, the others ``mockllm serve --state
redis://...``, and a client in this namespace talking to all of them.

What one shared state promises across hosts: ``times`` and sequences exact, rate limits
exact, a scenario added on one host served by all, one journal (in one order) read from
any host, the browser view's live feed showing every host's requests, a host stopped or
killed mid-run losing no use count, and a Redis restart giving 503s, then service.
Needs root, iproute2 and redis-server (CI: ``REQUIRE_NETNS=1``, ``REQUIRE_REDIS=1``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from netns import Bridge, Host, find_ip, mockllm_argv, redis_argv
from redis_server import find_redis_server

pytestmark = pytest.mark.xdist_group("netns")

TOKEN = "hosts-test-token"
RPM = 12  # the hosts' request budget per API key and minute
SCENARIOS = f"""\
scenarios:
  - name: limited
    when: {{last_user_message: {{contains: limited}}}}
    times: 3
    reply: {{content: limited}}
  - name: steps
    when: {{last_user_message: {{contains: steps}}}}
    sequence: [{", ".join(f"{{content: step {i}}}" for i in range(1, 9))}]
  - name: counted
    when: {{last_user_message: {{contains: counted}}}}
    times: 1000000
    reply: {{content: counted}}
  - name: plain
    reply: {{content: plain}}
"""
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Cluster:
    """The bridge, the Redis host and the mockllm hosts, with their processes."""

    bridge: Bridge
    redis_host: Host
    redis_argv: list[str]
    hosts: list[Host]
    folder: Path
    servers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: subprocess.Popen[bytes] | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def url(self, host: Host) -> str:
        """The base URL of the mockllm server on ``host``."""
        return f"http://{host.address}:8000"

    def start_redis(self) -> None:
        """redis-server on its host (no persistence: a restart forgets everything)."""
        self.redis = self.redis_host.popen(
            self.redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(lambda: _redis_answers(self.redis_host.address), "redis-server")

    def start(self, host: Host, folder: Path) -> None:
        """``mockllm serve`` on ``host``, bound to its address, state in the Redis."""
        self.servers[host.name] = host.popen(
            mockllm_argv(
                host,
                self.redis_host,
                "--admin-token",
                TOKEN,
                "--rate-limit-rpm",
                str(RPM),
                "--scenarios",
                str(folder),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait(lambda: self.health(host) == 200, f"mockllm on {host.address}")

    def health(self, host: Host) -> int | None:
        """The status of the health probe (no token), None when nothing answers."""
        try:
            return self.client.get(self.url(host) + "/__mockllm/health").status_code
        except httpx.HTTPError:
            return None

    def ask(self, host: Host, text: str, key: str = "") -> httpx.Response:
        """One chat completion on ``host`` (its own API key unless one is given)."""
        key = key or f"sk-{time.monotonic_ns()}-{threading.get_ident()}"
        return self.client.post(
            self.url(host) + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        )

    def journal(self, host: Host) -> list[dict[str, Any]]:
        """The journal as ``host`` lists it, oldest first."""
        found = self.client.get(self.url(host) + "/__mockllm/requests", headers=ADMIN)
        assert found.status_code == 200, found.text
        return list(reversed(found.json()["requests"]))

    def reset(self) -> None:
        """Journal, counts and budgets back to zero (through the first host)."""
        self.client.post(self.url(self.hosts[0]) + "/__mockllm/reset", headers=ADMIN)


def _redis_answers(address: str) -> bool:
    import socket

    try:
        with socket.create_connection((address, 6379), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(ready: Any, what: str, timeout: float = 30) -> float:
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not ready after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Redis host and two mockllm hosts on a private bridge; all gone afterwards."""
    find_ip()
    redis_binary = find_redis_server()
    folder = tmp_path_factory.mktemp("hosts")
    (folder / "hosts.yaml").write_text(SCENARIOS)
    bridge = Bridge()
    try:
        redis_host = bridge.add_host("redis")
        hosts = [bridge.add_host(f"h{i}") for i in (1, 2)]
        made = Cluster(
            bridge,
            redis_host,
            redis_argv(redis_binary, redis_host.address, str(folder)),
            hosts,
            folder,
        )
        made.start_redis()
        for host in hosts:
            made.start(host, folder)
        yield made
        made.client.close()
    finally:
        bridge.teardown()


@pytest.fixture()
def fresh(cluster: Cluster) -> Cluster:
    """The cluster with journal, counts and budgets at zero."""
    cluster.reset()
    return cluster


def test_times_and_sequences_are_exact_across_hosts(fresh: Cluster) -> None:
    hosts = fresh.hosts
    with ThreadPoolExecutor(8) as pool:
        limited = list(pool.map(lambda i: _content(fresh.ask(hosts[i % 2], "limited")), range(12)))
        steps = list(pool.map(lambda i: _content(fresh.ask(hosts[i % 2], "steps")), range(8)))
    assert limited.count("limited") == 3  # times: 3, whichever host answered
    assert sorted(steps) == [f"step {i}" for i in range(1, 9)]  # each step exactly once
    fresh.reset()
    # One after the other, alternating hosts: the steps in order.
    assert [_content(fresh.ask(hosts[i % 2], "steps")) for i in range(4)] == [
        f"step {i}" for i in range(1, 5)
    ]


def test_rate_limit_is_exact_across_hosts(fresh: Cluster) -> None:
    hosts = fresh.hosts
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda i: fresh.ask(hosts[i % 2], "plain", key="sk-shared").status_code,
                range(RPM + 10),
            )
        )
    elapsed = time.monotonic() - started
    # The bucket refills one request every 60/RPM seconds (the documented GCRA).
    refilled = int(elapsed / (60 / RPM))
    assert RPM <= statuses.count(200) <= RPM + refilled, (statuses, elapsed)
    assert statuses.count(429) == len(statuses) - statuses.count(200)


def test_a_scenario_added_on_one_host_is_served_by_all(fresh: Cluster) -> None:
    first, second = fresh.hosts
    added = fresh.client.post(
        fresh.url(first) + "/__mockllm/scenarios",
        headers=ADMIN,
        json={
            "name": "added-on-one",
            "priority": 10,
            "when": {"last_user_message": {"contains": "added"}},
            "reply": {"content": "added on the first host"},
        },
    )
    assert added.status_code == 201, added.text
    try:
        # Pub/sub tells the other host within milliseconds; allow a second.
        _wait(
            lambda: _content(fresh.ask(second, "added?")) == "added on the first host",
            "the added scenario on the second host",
            timeout=2,
        )
        assert _content(fresh.ask(first, "added?")) == "added on the first host"
    finally:
        fresh.client.delete(fresh.url(first) + "/__mockllm/scenarios/added-on-one", headers=ADMIN)


def test_the_journal_of_any_host_lists_every_host_in_one_order(fresh: Cluster) -> None:
    sent = [fresh.ask(fresh.hosts[i % 2], f"plain {i}") for i in range(10)]
    ids = [r.headers["x-request-id"] for r in sent]
    first, second = (fresh.journal(host) for host in fresh.hosts)
    assert [e["request_id"] for e in first] == [e["request_id"] for e in second]
    # Every request of both hosts, each once. (In the order Redis received them: a host
    # writes its journal in batches just after answering, so two requests answered by
    # different hosts within a millisecond may be listed either way round.)
    assert sorted(e["request_id"] for e in first) == sorted(ids)


def test_the_live_feed_of_one_host_shows_every_host(fresh: Cluster) -> None:
    first, second = fresh.hosts
    seen: list[str] = []
    snapshot = threading.Event()

    def listen() -> None:
        url = fresh.url(first) + f"/__mockllm/requests/stream?token={TOKEN}"
        with httpx.stream("GET", url, timeout=10) as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event == "snapshot":
                    snapshot.set()
                elif line.startswith("data: ") and event == "exchanges":
                    seen.extend(row["request_id"] for row in json.loads(line[6:]))
                    if len(seen) >= 6:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert snapshot.wait(5)
    sent = [fresh.ask(fresh.hosts[i % 2], f"plain {i}") for i in range(6)]
    listener.join(10)
    ids = [r.headers["x-request-id"] for r in sent]
    # Both hosts' requests, each once, in the journal's order (the order Redis received
    # them: each host writes its journal in batches after answering).
    assert sorted(seen) == sorted(ids), (seen, ids)
    assert seen == [e["request_id"] for e in fresh.journal(second)]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_a_host_gone_mid_run_loses_no_count(fresh: Cluster, how: signal.Signals) -> None:
    first, second = fresh.hosts
    answered: dict[str, list[str]] = {first.name: [], second.name: []}
    stop = threading.Event()

    def load(host: Host) -> None:
        while not stop.is_set():
            try:
                response = fresh.ask(host, "counted")
            except httpx.HTTPError:
                return  # the host went away
            answered[host.name].append(response.headers["x-request-id"])

    threads = [threading.Thread(target=load, args=(h,)) for h in (first, second)]
    for thread in threads:
        thread.start()
    # Mid-run: both hosts answering (a busy machine may need a while for that).
    _wait(lambda: min(len(a) for a in answered.values()) >= 10, "load on both hosts")
    status = second.stop(fresh.servers[second.name], how)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(15)
    try:
        total = len(answered[first.name]) + len(answered[second.name])
        # Every answered request took one use, once: the count is exact ...
        uses = fresh.client.get(fresh.url(first) + "/__mockllm/scenarios", headers=ADMIN)
        counted = next(s for s in uses.json()["scenarios"] if s["name"] == "counted")
        # ... but a request the host took a use for may have gone with it unanswered
        # (one connection to it: at most one).
        assert total <= counted["uses"] <= total + 1, (counted["uses"], total)
        journaled = {e["request_id"] for e in fresh.journal(first)}
        lost = [i for i in answered[second.name] if i not in journaled]
        assert all(i in journaled for i in answered[first.name])
        if how == signal.SIGTERM:
            assert status == 0
            assert lost == []  # a stopped host writes its queue before it goes
        else:
            # Killed: only what it had not yet sent (its last moments) may be missing.
            assert len(lost) <= 5, (len(lost), len(answered[second.name]))
    finally:
        fresh.start(second, fresh.folder)


def test_a_redis_restart_gives_503_then_service(cluster: Cluster) -> None:
    first, second = cluster.hosts
    assert cluster.redis is not None
    cluster.redis_host.stop(cluster.redis)
    try:
        started = time.monotonic()
        down = cluster.ask(first, "counted")
        assert time.monotonic() - started < 3
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "state_store_unavailable"
        assert cluster.health(second) == 503
        probe = cluster.client.get(cluster.url(second) + "/__mockllm/health")
        assert probe.json() == {"status": "unavailable"}
    finally:
        cluster.start_redis()
    waited = _wait(
        lambda: all(cluster.ask(h, "counted").status_code == 200 for h in cluster.hosts),
        "service after the restart",
        15,
    )
    assert waited < 10
    assert cluster.health(first) == cluster.health(second) == 200
