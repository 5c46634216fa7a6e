"""The lean lane against aiohttp alone: hostile and odd requests, answered alike.

Each request of the corpus (request smuggling forms, malformed and oversized heads,
odd lengths and encodings) goes to the same app twice: served as ``mockllm serve``
serves it (the lean lane in front of aiohttp) and by aiohttp alone. The lane's answers
must be aiohttp's (status by status), or stricter; meanwhile the server keeps
answering another client, and nothing is logged as a traceback.

Then one test per defect found when the lane parsed heads with regular expressions
(issue 20, numbered as there); each failed before the lane read heads with llhttp.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from mockllm.config import Settings
from mockllm.http import leanserver
from mockllm.http.app import AppParts, create_app
from mockllm.http.context import STATE
from mockllm.http.serving import QuietRefusals, start_site

BODY = json.dumps(
    {"model": "gpt-4o-mini", "seed": 3, "messages": [{"role": "user", "content": "hello"}]}
).encode()
PATH = b"/v1/chat/completions"
# A scenario that says back a header's value; the built-in ones answer the rest.
ECHO = """
- name: echo
  when: {last_user_message: {contains: echo please}}
  reply: {content: "you sent {{ headers['x-bytes'] }}"}
- name: big
  when: {last_user_message: {contains: big please}}
  reply: {content: "{{ 'word ' * 180000 }}"}
"""


def request(
    *headers: bytes,
    body: bytes = BODY,
    line: bytes = b"POST " + PATH + b" HTTP/1.1",
    length: bool = True,
    eol: bytes = b"\r\n",
) -> bytes:
    """A request with these header lines (Host and Content-Type unless given)."""
    names = {h.split(b":")[0].strip().lower() for h in headers}
    lines = [line]
    if b"host" not in names and b"-host" not in headers:
        lines.append(b"Host: 127.0.0.1")
    if b"content-type" not in names:
        lines.append(b"Content-Type: application/json")
    lines += [h for h in headers if h != b"-host"]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return eol.join(lines) + eol + eol + body


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


CORPUS: dict[str, bytes] = {
    "plain": request(),
    "pipelined-two": request() + request(),
    "bare-lf-head": request(eol=b"\n"),
    "bare-lf-one-line": request().replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\n"),
    "bare-cr": request().replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r"),
    "no-host": request(b"-host"),
    "two-host": request(b"Host: a", b"Host: b"),
    "two-content-type": request(b"Content-Type: application/json", b"Content-Type: text/plain"),
    "keep-alive-and-close": request(b"Connection: keep-alive", b"Connection: close"),
    "keep-alive-close-one-line": request(b"Connection: keep-alive, close"),
    "connection-close": request(b"Connection: close"),
    "content-length-4400-digits": request(b"Content-Length: " + b"9" * 4400, length=False),
    "content-length-leading-zeros": request(
        b"Content-Length: " + b"0" * 5000 + b"%d" % len(BODY), length=False
    ),
    "content-length-plus": request(b"Content-Length: +%d" % len(BODY), length=False),
    "content-length-negative": request(b"Content-Length: -1", length=False),
    "content-length-hex": request(b"Content-Length: 0x%x" % len(BODY), length=False),
    "content-length-twice-same": request(b"Content-Length: %d" % len(BODY)),
    "content-length-twice-other": request(b"Content-Length: 1"),
    "content-length-list": request(
        b"Content-Length: %d, %d" % (len(BODY), len(BODY)), length=False
    ),
    "no-content-length": request(length=False),
    "smuggle-cl-te": request(b"Transfer-Encoding: chunked", body=chunked(BODY)),
    "smuggle-te-cl": (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunked(BODY)
    ),
    "smuggle-te-space-before-colon": request(
        b"Transfer-Encoding : chunked", body=chunked(BODY), length=False
    ),
    "smuggle-te-xchunked": request(
        b"Transfer-Encoding: xchunked", body=chunked(BODY), length=False
    ),
    "smuggle-te-chunked-identity": request(
        b"Transfer-Encoding: chunked, identity", body=chunked(BODY), length=False
    ),
    "smuggle-te-folded": request(
        b"Transfer-Encoding:\r\n chunked", body=chunked(BODY), length=False
    ),
    "chunked-bad-size": request(
        b"Transfer-Encoding: chunked", body=b"zz\r\n{}\r\n0\r\n\r\n", length=False
    ),
    "folded-header": request(b"X-Fold: a\r\n b"),
    "space-run-in-value": request(b"X-Pad: a" + b" " * 120_000 + b"b"),
    "long-value": request(b"X-Pad: " + b"p" * 9000),
    "long-url": request(line=b"POST /v1/chat/completions?" + b"q" * 9000 + b" HTTP/1.1"),
    "129-headers": request(*(b"X-H%d: v" % n for n in range(129))),
    "null-in-value": request(b"X-Null: a\x00b"),
    "ctl-in-name": request(b"X-\x01: a"),
    "non-utf8-value": request(b"X-Bytes: \xff\xfe"),
    "gzip-body": request(b"Content-Encoding: gzip", body=gzip.compress(BODY)),
    "deflate-body": request(b"Content-Encoding: deflate", body=zlib.compress(BODY)),
    "br-body": request(b"Content-Encoding: br", body=b"\x0b\x02\x80{}\x03"),
    "bogus-encoding": request(b"Content-Encoding: bogus"),
    "http10": request(line=b"POST " + PATH + b" HTTP/1.0"),
    "http2-version": request(line=b"POST " + PATH + b" HTTP/2.0"),
    "lowercase-method": request(line=b"post " + PATH + b" HTTP/1.1"),
    "absolute-form": request(line=b"POST http://127.0.0.1" + PATH + b" HTTP/1.1"),
    "leading-empty-lines": b"\r\n\r\n" + request(),
    "expect-continue": request(b"Expect: 100-continue"),
    "upgrade": request(b"Upgrade: websocket", b"Connection: Upgrade"),
    "content-type-charset": request(b"Content-Type: application/json; charset=utf-8"),
    "content-type-text": request(b"Content-Type: text/plain"),
    "body-too-large": request(body=b'{"x": "' + b"x" * 300_000 + b'"}'),
    "good-then-bad-length": request() + request(b"Content-Length: " + b"9" * 4400, length=False),
    "good-then-garbage": request() + b"GARBAGE\r\n\r\n",
    "only-garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
}


@dataclass
class Servers:
    """The same app twice: behind the lean lane, and on aiohttp alone."""

    lane: int
    plain: int
    lane_app: web.Application


@pytest.fixture()
async def servers(mockllm_parts: AppParts, tmp_path: Path) -> AsyncIterator[Servers]:
    (tmp_path / "echo.yaml").write_text(ECHO)
    # Bodies up to 256 KiB: the lane buffers a whole hostile head behind an answer.
    settings = Settings(
        port=0, seed=5, max_body_bytes=256 * 1024, scenario_paths=[tmp_path / "echo.yaml"]
    )
    lane_app = create_app(settings, parts=mockllm_parts)
    site = await start_site(lane_app, "127.0.0.1", 0)
    runner = web.AppRunner(
        create_app(settings, parts=mockllm_parts), access_log=None, logger=QuietRefusals()
    )
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    await plain.start()
    port = plain._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Servers(site.port, port, lane_app)
    finally:
        await site.close()
        await runner.cleanup()


async def exchange(port: int, data: bytes, *, quiet: float = 0.6) -> list[int]:
    """Send ``data``; the statuses of the answers read until the server closes or says
    nothing for ``quiet`` seconds."""
    return statuses(await received(port, data, quiet=quiet))


async def received(port: int, data: bytes, *, quiet: float = 0.6, wait: float = 0) -> bytes:
    """Send ``data`` (reading nothing for ``wait`` seconds); all the server sends back
    until it closes or says nothing for ``quiet`` seconds."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # a slow reader
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(data)
        await asyncio.sleep(wait)
        got = b""
        while True:
            try:
                # The first answer may be slow on a busy machine; then silence means done.
                more = await asyncio.wait_for(reader.read(1 << 20), quiet if got else 5)
            except (TimeoutError, ConnectionError):
                break
            if not more:
                break
            got += more
    finally:
        writer.close()
    return got


def statuses(data: bytes) -> list[int]:
    """The status codes of the HTTP/1.x answers in ``data``, in order."""
    found = []
    while data.startswith(b"HTTP/1."):
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        found.append(int(lines[0].split()[1]))
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])
        }
        if fields.get(b"transfer-encoding") == b"chunked":
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                rest = rest[size + 2 :]
                if size == 0:
                    break
        else:
            rest = rest[int(fields.get(b"content-length", b"0")) :]
        data = rest
    return found


async def still_serving(port: int) -> None:
    """Another client is answered meanwhile, at once."""
    assert await asyncio.wait_for(exchange(port, request(), quiet=0.3), 5) == [200]


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_the_lane_answers_as_aiohttp_alone_does(
    servers: Servers, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    data = CORPUS[name]
    hostile = asyncio.ensure_future(exchange(servers.lane, data))
    await asyncio.sleep(0.05)
    await still_serving(servers.lane)
    lane = await hostile
    plain = await exchange(servers.plain, data)
    # aiohttp alone drops a valid request that arrives in one read with a malformed
    # one (it answers the malformed one only); the lane answers the valid one first.
    assert lane == plain or (lane[-1:] == plain and set(lane[:-1]) == {200})
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _journaled(servers: Servers) -> int:
    return len(await servers.lane_app[STATE].store.exchanges())


# ------------------------------------------------------------ the defects of issue 20


async def test_1_a_run_of_spaces_in_a_header_does_not_block_the_server(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    # Pipelined behind an answer, the whole head is buffered before it is read.
    hostile = request() + request(b"X-Pad: a" + b" " * 120_000 + b"b")
    started = time.monotonic()
    answers = asyncio.ensure_future(exchange(servers.lane, hostile))
    await asyncio.sleep(0.05)
    await still_serving(servers.lane)
    assert await answers == [200, 400]  # aiohttp's limit: 8,190 bytes a header
    assert time.monotonic() - started < 3  # the regex took 8.6 s (every client waited)
    _no_tracebacks(caplog)


BIG = request(
    body=json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "big please"}]}
    ).encode()
)  # a 900 KB answer


async def test_2_a_client_that_pipelines_without_reading_holds_one_answer(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    before = await _journaled(servers)
    reading = asyncio.ensure_future(received(servers.lane, BIG * 20, wait=3, quiet=2))
    await asyncio.sleep(2.5)
    # Not read: the server answered what the sockets' buffers hold, and waits (it
    # answered all 20 at once, holding every answer in memory).
    assert await _journaled(servers) - before < 10
    await still_serving(servers.lane)
    assert statuses(await reading) == [200] * 20
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    "data",
    [
        request(b"Content-Length: " + b"9" * 4400, length=False),
        request() + request(b"Content-Length: " + b"9" * 4400, length=False),
    ],
    ids=["alone", "pipelined"],
)
async def test_3_a_content_length_of_4400_digits_is_a_400(
    servers: Servers, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    answers = await exchange(servers.lane, data)
    assert answers[-1:] == [400] and set(answers[:-1]) <= {200}
    _no_tracebacks(caplog)


async def test_4_an_encoded_body_is_decoded_or_refused_as_aiohttp_does(servers: Servers) -> None:
    data = request(b"Content-Encoding: gzip", body=gzip.compress(BODY))
    answer = await received(servers.lane, data)
    assert statuses(answer) == [200] and b'"chat.completion"' in answer
    for name in ("br-body", "bogus-encoding"):
        assert await exchange(servers.lane, CORPUS[name]) == await exchange(
            servers.plain, CORPUS[name]
        )


@pytest.mark.parametrize(
    "name", ["bare-lf-head", "bare-lf-one-line", "no-host", "two-host", "two-content-type"]
)
async def test_5_heads_aiohttp_refuses_are_refused(servers: Servers, name: str) -> None:
    started = time.monotonic()
    assert await exchange(servers.lane, CORPUS[name], quiet=3) == [400]
    assert time.monotonic() - started < 2.5  # at once, not after a wait for CRLFCRLF


async def test_6_leading_zeros_and_undecodable_header_bytes_are_no_500(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    zeros = CORPUS["content-length-leading-zeros"]
    assert await exchange(servers.lane, zeros) == [200]
    assert await exchange(servers.plain, zeros) == [200]
    echo = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "echo please"}]}
    ).encode()
    for port in (servers.lane, servers.plain):
        answer = await received(port, request(b"X-Bytes: \xff\xfeok", body=echo))
        assert statuses(answer) == [200]
        assert "you sent \ufffd\ufffdok" in answer.decode()
    journal = await received(servers.lane, b"GET /__mockllm/requests HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(journal) == [200] and "\ufffd\ufffdok" in journal.decode()
    _no_tracebacks(caplog)


async def test_7_a_slow_body_is_waited_for_and_a_slow_head_is_a_408(
    mockllm_parts: AppParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leanserver, "_IDLE_SECONDS", 1.0)
    monkeypatch.setattr(leanserver, "_HEAD_SECONDS", 1.0)
    monkeypatch.setattr(leanserver, "_SWEEP_SECONDS", 0.1)
    site = await start_site(create_app(Settings(port=0), parts=mockllm_parts), "127.0.0.1", 0)
    try:
        data = request()
        body_at = data.index(b"\r\n\r\n") + 4
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        try:
            writer.write(data[:body_at])
            # The body 0.25 s apart, for longer than 1 s: still arriving, so not idle.
            for at in range(body_at, len(data), 10):
                writer.write(data[at : at + 10])
                await asyncio.sleep(0.25)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 200")
        assert statuses(await received(site.port, request()[:40], quiet=4)) == [408]
    finally:
        await site.close()


async def test_7_a_connection_handed_over_while_its_answer_waits_is_not_broken(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    data = BIG * 4 + b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    assert statuses(await received(servers.lane, data, wait=1.5)) == [200] * 5
    _no_tracebacks(caplog)
