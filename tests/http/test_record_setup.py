"""Recording does not record setup mistakes: an upstream's 401, 403 or 404 (a bad key, an
``--upstream`` without ``/v1``) is relayed, named in ``x-mockllm-upstream``, and written
only with ``--record-setup-errors``; the ``record`` banner names the upstream and the folder.
(A 404 was stored as a scenario that replayed the mistake.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from mockllm.config import RecordMode, Settings
from mockllm.server import MockLLMServer


class _NoRoute(BaseHTTPRequestHandler):
    """An upstream that serves only /v1/chat/completions, and only to key sk-good."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/chat/completions":
            self._send(
                404,
                {
                    "error": {
                        "message": "Invalid URL",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        elif self.headers.get("Authorization") != "Bearer sk-good":
            self._send(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
        else:
            self._send(
                500,
                {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}},
            )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoRoute)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ask(base: str, out: Path, key: str, **extra: Any) -> tuple[openai.APIStatusError, list[Any]]:
    settings = Settings(port=0, record=RecordMode.ALL, upstream=base, record_dir=out, **extra)
    with MockLLMServer(settings) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        journal = server.call(server.state.store.exchanges)
    return info.value, journal


def test_a_404_from_an_upstream_without_v1_is_relayed_named_and_not_recorded(
    upstream: str, tmp_path: Path
) -> None:
    error, [exchange] = _ask(upstream, tmp_path, "sk-good")
    assert error.status_code == 404
    assert (
        error.response.headers["x-mockllm-upstream"] == f"POST {upstream}/chat/completions -> 404"
    )
    assert "does --upstream end in /v1?" in exchange.tags["not_recorded"]
    assert list(tmp_path.glob("*.yaml")) == []


def test_a_401_is_not_recorded_but_other_errors_are(upstream: str, tmp_path: Path) -> None:
    error, [exchange] = _ask(f"{upstream}/v1", tmp_path / "bad-key", "sk-bad")
    assert error.status_code == 401 and "is the key right?" in exchange.tags["not_recorded"]
    assert not (tmp_path / "bad-key").exists()
    error, _ = _ask(f"{upstream}/v1", tmp_path / "server-error", "sk-good")
    assert error.status_code == 500  # what the API does: recorded, as before
    assert len(list((tmp_path / "server-error").glob("*.yaml"))) == 1


def test_setup_errors_are_recorded_when_asked(upstream: str, tmp_path: Path) -> None:
    error, [exchange] = _ask(upstream, tmp_path, "sk-good", record_setup_errors=True)
    assert error.status_code == 404 and "not_recorded" not in exchange.tags
    assert len(list(tmp_path.glob("*.yaml"))) == 1


def test_the_record_banner_names_the_upstream_and_the_folder(upstream: str, tmp_path: Path) -> None:
    out = tmp_path / "recordings"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockllm",
            "record",
            "--port",
            "0",
            "--upstream",
            f"{upstream}/v1",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert lines[3].strip() == (
        f"recording (all): forwards to {upstream}/v1, writes scenarios into {out}"
    )
