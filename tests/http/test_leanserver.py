"""The lean lane (mockllm/http/leanserver.py) on a real socket.

A plain chat completions request is answered by the lane; anything else is handed to
aiohttp with its connection. Both must answer alike, byte for byte where the bytes do
not carry the time or a request id, and no request the lane does not take may be
lost or answered differently from a server without the lane.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockllm.config import Settings
from mockllm.http.app import AppParts
from mockllm.server import MockLLMServer

SCENARIOS = """
- name: with-header
  when: {last_user_message: {contains: header please}}
  reply: {content: "A header for you.", headers: {X-Mock: "1"}}
- name: paced
  when: {last_user_message: {contains: paced please}}
  reply:
    content: "{{ 'word ' * 400 }}"
    timing: {tokens_per_second: 100000, chunk: chars, chunk_size: 40}
- name: hang
  when: {last_user_message: {contains: hang please}}
  reply: {content: "never", fault: {kind: hang}}
- name: broken-header
  when: {last_user_message: {contains: broken header}}
  reply: {content: "x", headers: {X-Broken: "a\\r\\nInjected: yes"}}
- name: anything-else
  reply: {}
"""


@pytest.fixture(scope="module")
def server(
    mockllm_parts: AppParts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MockLLMServer]:
    folder: Path = tmp_path_factory.mktemp("lane")
    (folder / "lane.yaml").write_text(SCENARIOS)
    with MockLLMServer(
        Settings(port=0, seed=7, max_body_bytes=4096, scenario_paths=[folder / "lane.yaml"]),
        parts=mockllm_parts,
    ) as running:
        yield running


def _body(text: str = "hello", **fields: Any) -> bytes:
    return json.dumps(
        {
            "model": "gpt-4o-mini",
            "seed": 11,
            "messages": [{"role": "user", "content": text}],
            **fields,
        }
    ).encode()


def _lane_request(body: bytes, path: str = "/v1/chat/completions", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _chunked_request(body: bytes) -> bytes:
    """The same request with a chunked body: the lane hands it to aiohttp."""
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body)
        + body
        + b"\r\n0\r\n\r\n"
    )


class Reader:
    """Reads whole HTTP/1.1 responses off one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _fill(self) -> None:
        more = self.sock.recv(65536)
        if not more:
            raise ConnectionError("closed")
        self.data += more

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.data:
            self._fill()
        part, self.data = self.data.split(marker, 1)
        return part

    def _exactly(self, count: int) -> bytes:
        while len(self.data) < count:
            self._fill()
        part, self.data = self.data[:count], self.data[count:]
        return part

    def response(self) -> tuple[str, list[tuple[str, str]], bytes]:
        head = self._until(b"\r\n\r\n").decode()
        status, *lines = head.split("\r\n")
        headers = [tuple(line.split(": ", 1)) for line in lines]
        names = {name.lower(): value for name, value in headers}
        if status.startswith("HTTP/1.1 1"):  # 100 Continue: the answer follows
            return status, headers, b""  # type: ignore[return-value]
        if names.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._until(b"\r\n"), 16)
                body += self._exactly(size)
                self._until(b"\r\n")
                if size == 0:
                    break
        else:
            body = self._exactly(int(names.get("content-length", "0")))
        return status, headers, body  # type: ignore[return-value]


def _connect(server: MockLLMServer) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock, Reader(sock)


def _ask(server: MockLLMServer, data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    sock, reader = _connect(server)
    with sock:
        sock.sendall(data)
        return reader.response()


def _comparable(answer: tuple[str, list[tuple[str, str]], bytes]) -> Any:
    """An answer without what differs between any two answers: the date, request ids,
    the processing time."""
    status, headers, body = answer
    kept = [
        (n, v)
        for n, v in headers
        if n.lower() not in {"date", "x-request-id", "openai-processing-ms"}
    ]
    return status, kept, re.sub(rb"req_[0-9a-f]{32}", b"req_", body)


@pytest.mark.parametrize(
    "body",
    [
        _body(),
        _body(stream=True, stream_options={"include_usage": True}),
        _body("header please"),
        _body(temperature="hot"),
        _body(model="no-such-model"),
        b'{"model": "gpt-4o-mini", "messages": [',
        b"[1, 2]",
    ],
    ids=[
        "reply",
        "stream",
        "reply-header",
        "invalid-field",
        "unknown-model",
        "broken-json",
        "not-an-object",
    ],
)
def test_the_lane_answers_as_aiohttp_does(server: MockLLMServer, body: bytes) -> None:
    lane = _ask(server, _lane_request(body))
    aiohttp_answer = _ask(server, _chunked_request(body))
    assert _comparable(lane) == _comparable(aiohttp_answer)
    names = [name for name, _ in lane[1]]
    assert "Date" in names and "Server" in names and "x-request-id" in names


def test_the_journal_holds_lane_requests_like_any_other(server: MockLLMServer) -> None:
    server.call(server.state.clear_journal)
    _ask(server, _lane_request(_body("journal me"), extra="Authorization: Bearer sk-j\r\n"))
    [exchange] = server.call(server.state.store.exchanges)
    assert exchange.path == "/v1/chat/completions"
    assert exchange.method == "POST"
    assert exchange.headers["Authorization"] == "Bearer ***"  # redacted (test_redaction.py)
    assert exchange.body["messages"][0]["content"] == "journal me"
    assert exchange.status == 200
    assert exchange.reply_headers["Content-Length"].isdigit()


def test_one_connection_serves_the_lane_and_then_aiohttp(server: MockLLMServer) -> None:
    sock, reader = _connect(server)
    with sock:
        chat = _lane_request(_body())
        # Pipelined: two lane requests, one for aiohttp, one more chat (now aiohttp's).
        sock.sendall(chat + chat + b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" + chat)
        answers = [reader.response() for _ in range(4)]
    assert [a[0] for a in answers] == ["HTTP/1.1 200 OK"] * 4
    assert json.loads(answers[2][2])["object"] == "list"
    contents = [
        json.loads(a[2])["choices"][0]["message"]["content"]
        for a in (answers[0], answers[1], answers[3])
    ]
    assert len(set(contents)) == 1  # the same seed: the same reply, whoever answered


def test_requests_the_lane_does_not_take_are_answered_by_aiohttp(server: MockLLMServer) -> None:
    body = _body()
    status, _, _ = _ask(server, _lane_request(body, extra="Expect: 100-continue\r\n"))
    assert status == "HTTP/1.1 100 Continue"
    status, _, answer = _ask(server, _lane_request(_body("x" * 5000)))
    assert status.startswith("HTTP/1.1 413")
    assert b"MOCKLLM_MAX_BODY_BYTES" in answer
    status, _, answer = _ask(server, _lane_request(body, path="/v1/chat/completions?format=xml"))
    assert status.startswith("HTTP/1.1 406")
    status, _, _ = _ask(server, b"POST /v1/chat/completions HTTP/1.1 junk\r\n\r\n")
    assert " 400 " in status  # aiohttp answers a request line it cannot read in HTTP/1.0
    http10 = _lane_request(body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    status, _, answer = _ask(server, http10)
    assert status.endswith("200 OK") and json.loads(answer)["object"] == "chat.completion"
    status, headers, _ = _ask(server, _lane_request(body, extra="Origin: http://dev.local\r\n"))
    assert ("Access-Control-Allow-Origin", "*") in headers


def test_a_body_that_arrives_in_pieces(server: MockLLMServer) -> None:
    data = _lane_request(_body("in pieces"))
    sock, reader = _connect(server)
    with sock:
        for piece in (data[:20], data[20:-10], data[-10:]):
            sock.sendall(piece)
            time.sleep(0.05)
        status, _, answer = reader.response()
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(answer)["object"] == "chat.completion"


def test_a_paced_stream_reaches_a_slow_reader_whole(server: MockLLMServer) -> None:
    sock, reader = _connect(server)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(_lane_request(_body("paced please", stream=True)))
        time.sleep(0.5)  # the server fills the socket and must wait, not drop or spin
        status, _, answer = reader.response()
    events = [line for line in answer.split(b"\n\n") if line]
    assert status == "HTTP/1.1 200 OK"
    assert events[-1] == b"data: [DONE]"
    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content") or ""
        for e in events[:-1]
        if json.loads(e[6:])["choices"]
    )
    assert text == "word " * 400


def test_a_broken_header_is_a_500_and_the_server_goes_on(server: MockLLMServer) -> None:
    status, headers, _ = _ask(server, _lane_request(_body("broken header")))
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert ("Injected", "yes") not in headers
    status, _, _ = _ask(server, _lane_request(_body()))
    assert status == "HTTP/1.1 200 OK"


def test_clients_that_leave_early_lose_nobody_else_anything(server: MockLLMServer) -> None:
    for data in (
        _lane_request(_body()),
        _lane_request(_body(stream=True)),
        _lane_request(_body())[:30],
    ):
        sock, _ = _connect(server)
        sock.sendall(data)
        sock.close()
    status, _, answer = _ask(server, _lane_request(_body()))
    assert status == "HTTP/1.1 200 OK" and json.loads(answer)["choices"]


def test_stopping_does_not_wait_for_a_hanging_reply(
    mockllm_parts: AppParts, tmp_path: Path
) -> None:
    (tmp_path / "lane.yaml").write_text(SCENARIOS)
    running = MockLLMServer(
        Settings(port=0, scenario_paths=[tmp_path / "lane.yaml"]), parts=mockllm_parts
    ).start()
    sock, _ = _connect(running)
    sock.sendall(_lane_request(_body("hang please")))
    time.sleep(0.2)
    started = time.monotonic()
    running.stop()
    sock.close()
    assert time.monotonic() - started < 8  # the lane's grace, not the fault's 300 s


def test_an_idle_keep_alive_connection_is_closed(
    mockllm_parts: AppParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mockllm.http import leanserver

    monkeypatch.setattr(leanserver, "_IDLE_SECONDS", 0.3)
    monkeypatch.setattr(leanserver, "_SWEEP_SECONDS", 0.1)
    with MockLLMServer(Settings(port=0), parts=mockllm_parts) as running:
        sock, reader = _connect(running)
        with sock:
            sock.sendall(_lane_request(_body()))
            assert reader.response()[0] == "HTTP/1.1 200 OK"
            time.sleep(0.2)
            sock.sendall(_lane_request(_body()))  # still open: the idle time starts again
            assert reader.response()[0] == "HTTP/1.1 200 OK"
            time.sleep(0.8)
            assert sock.recv(100) == b""  # closed by the server


def test_requests_sent_before_the_client_shuts_its_side_are_all_answered(
    server: MockLLMServer,
) -> None:
    sock, reader = _connect(server)
    with sock:
        sock.sendall(_lane_request(_body("one")) + _lane_request(_body("two")))
        sock.shutdown(socket.SHUT_WR)
        answers = [reader.response() for _ in range(2)]
        assert sock.recv(100) == b""  # then the server closes
    assert [status for status, _, _ in answers] == ["HTTP/1.1 200 OK"] * 2


def test_a_large_body_in_many_small_pieces(mockllm_parts: AppParts) -> None:
    words = " ".join(f"w{n % 97}" for n in range(60_000))  # about 250 KB of text
    data = _lane_request(_body(words))
    with MockLLMServer(Settings(port=0, seed=1), parts=mockllm_parts) as running:
        sock, reader = _connect(running)
        with sock:
            for at in range(0, len(data), 1024):
                sock.sendall(data[at : at + 1024])
            status, _, answer = reader.response()
        [exchange] = running.call(running.state.store.exchanges)
    assert status == "HTTP/1.1 200 OK" and json.loads(answer)["usage"]["prompt_tokens"] > 60_000
    assert exchange.body["messages"][0]["content"] == words


def test_a_long_head_then_a_body_in_pieces_is_not_stalled(server: MockLLMServer) -> None:
    # More bytes than a body may have plus a head are buffered before the request can be
    # taken: reading must go on (pausing it would wait for an answer that never comes).
    pad = "".join(f"X-Pad-{n}: {'p' * 8000}\r\n" for n in range(3))  # each within the limit
    data = _lane_request(_body("long head"), extra=pad)
    sock, reader = _connect(server)
    with sock:
        for piece in (data[:-40], data[-40:-20], data[-20:]):
            sock.sendall(piece)
            time.sleep(0.1)
        status, _, answer = reader.response()
    assert status == "HTTP/1.1 200 OK" and json.loads(answer)["object"] == "chat.completion"


async def test_a_route_mounted_with_add_post_is_served_by_the_lane(mockllm_parts: AppParts) -> None:
    from aiohttp import web

    from mockllm.http.app import create_app
    from mockllm.http.context import add_post
    from mockllm.http.serving import start_site

    app = create_app(Settings(port=0), parts=mockllm_parts)
    kinds: list[str] = []

    async def echo(request: Any) -> web.StreamResponse:
        kinds.append(type(request).__name__)
        return web.json_response({"got": json.loads(await request.read())})

    add_post(app, "/v1/echo", echo)
    site = await start_site(app, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        body = b'{"a": 1}'
        head = (
            b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        writer.write(head + body + head.replace(b"HTTP/1.1", b"HTTP/1.0") + body)
        answers = [await reader.readuntil(b'{"got": {"a": 1}}') for _ in range(2)]
        writer.close()
    finally:
        await site.close()
    assert [answer[:17] for answer in answers] == [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 200 OK\r\n"]
    assert kinds == ["LeanRequest", "Request"]  # HTTP/1.0 is aiohttp's, same handler
