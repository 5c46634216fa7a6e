"""What ``mockllm serve`` says and does at start: the banner names the browser view and
the scenarios loaded; with ``--state``, a Redis that does not answer stops it at once
(it retried in silence), and ``--state-reset`` forgets what an earlier run left there
(a used-up ``times: 1`` never fired again after a restart)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from redis_server import RedisServer

from mockllm.config import Settings
from mockllm.server import MockLLMServer
from mockllm.state import prepare_store

ONCE = "name: once\ntimes: 1\nreply: {content: first time}\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_state_store_stops_serve_at_start() -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0", "--state", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"the state store {url} does not answer" in result.stderr
    assert "serving on" not in result.stdout


def _content(server: MockLLMServer) -> str:
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        headers={"Content-Type": "application/json"},
        data=json.dumps(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        ).encode(),
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["choices"][0]["message"]["content"])


def test_state_outlives_a_restart_unless_reset(redis_server: RedisServer, tmp_path: Path) -> None:
    file = tmp_path / "once.yaml"
    file.write_text(ONCE)
    settings = Settings(
        port=0,
        state=redis_server.url,
        state_prefix=f"restart:{uuid.uuid4().hex}:",
        scenario_paths=(file,),
    )
    with MockLLMServer(settings) as server:
        assert _content(server) == "first time"
    with MockLLMServer(settings) as server:  # kept: what a fleet restarting a worker needs
        assert _content(server) != "first time"
        assert len(server.call(server.state.store.exchanges)) == 2
    asyncio.run(prepare_store(redis_server.url, prefix=settings.state_prefix, reset=True))
    with MockLLMServer(settings) as server:  # --state-reset: a clean start
        assert _content(server) == "first time"
        assert len(server.call(server.state.store.exchanges)) == 1


def test_the_banner_names_the_browser_view_and_the_scenarios(tmp_path: Path) -> None:
    file = tmp_path / "two.yaml"
    file.write_text("- name: a\n- name: b\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "mockllm", "serve", "--port", "0", "--scenarios", str(file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    url = lines[0].split("serving on ", 1)[1].split()[0]
    assert lines[1].strip() == f"browser view: {url}/__mockllm/ui"
    assert lines[2].strip() == f"scenarios: 2 from {file}"


def test_conform_without_a_path_gives_one_hint(capsys: object) -> None:
    from mockllm.cli import main

    code = main(["conform", "http://127.0.0.1:9"])
    err = capsys.readouterr()  # type: ignore[attr-defined]
    assert code == 2
    assert err.out == ""  # no check ran, so no 25 failures
    assert "try: mockllm conform http://127.0.0.1:9/v1" in err.err


def test_a_404_under_v1_does_not_blame_the_base_url() -> None:
    with MockLLMServer(Settings(port=0)) as server:
        for path, blamed in (
            ("/v1/embeddings", False),
            ("/v1/no-such", False),
            ("/chat/completions", True),
        ):
            request = urllib.request.Request(
                server.url + path, data=b"{}", headers={"Content-Type": "application/json"}
            )
            try:
                urllib.request.urlopen(request, timeout=30)
            except urllib.error.HTTPError as error:
                assert error.code == 404
                body = json.loads(error.read())
            else:
                raise AssertionError(f"{path} answered")
            assert ("base_url must end in /v1" in body["error"]["message"]) is blamed, path


def test_the_root_points_to_the_browser_view_and_the_docs() -> None:
    with MockLLMServer(Settings(port=0)) as server:
        url = server.url
        with urllib.request.urlopen(url + "/", timeout=30) as answer:
            index = json.loads(answer.read())
    assert index["browser_view"] == f"{url}/__mockllm/ui"
    assert index["openai_base_url"] == f"{url}/v1"
    assert "docs/" in index["docs"] and index["version"]
