"""The lean lane: the API's POST routes served straight off the socket, the rest by aiohttp.

Every connection of a running server (``serving.start_site``) starts here. The lane
reads each request's head with llhttp (through ``httptools``: the parser of Node.js
and uvicorn, and the one under aiohttp's own C parser), with aiohttp's limits. A plain
POST with a JSON body to one of the app's lane routes (``ServerState.lane_routes``,
mounted by :func:`~.context.add_post`: the chat completions paths, and each surface's
own) runs through the same pipeline as on aiohttp (the middleware's
:func:`~.middleware.answer` around the route's handler), as a
:class:`~.leanio.LeanRequest`, and its answer is written here with the bytes aiohttp
would write. That skips aiohttp's request, router and writer objects, which cost a mock
more than the reply itself.

Anything else hands the connection to aiohttp for good, with the bytes of that request:
another route or method, a query string, HTTP/1.0, a chunked or encoded (gzip, br)
body, ``Expect``, ``Upgrade``, ``Connection`` other than keep-alive, another content
type, a browser's ``Origin`` while CORS is on, a body over the size limit, no ``Host``
or any header twice, a head over 16 KiB, and every head llhttp or aiohttp's limits
refuse. aiohttp answers it (a 400 for a malformed head) and every later request of the
connection, exactly as a server without the lane would.

Each connection holds at most one request's answer: the next request is read only
once the answer has left for the socket's buffer, and reading pauses while the socket
does not take more (a client that pipelines without reading). A head that takes longer
than ``_HEAD_SECONDS`` to arrive is answered 408; a connection closes when nothing has
arrived for ``_IDLE_SECONDS`` and nothing is being answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import formatdate
from types import MappingProxyType
from typing import cast

import httptools
from aiohttp import hdrs, web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from .context import STATE, Handler
from .delivery import CLOSED
from .leanio import LeanRequest, LeanStream
from .middleware import answer

__all__ = ["LeanLane"]

# A request the lane has read the head of: its path, handler and headers, where its
# body starts in the buffer and how long it is.
_Pending = tuple[str, Handler, CIMultiDictProxy[str], int, int]

log = logging.getLogger("mockllm")

# aiohttp's limits (web_protocol.RequestHandler): the request line, one header's name
# and value together, the number of headers. A head that passes them in the lane
# passes them in aiohttp; one that does not is aiohttp's to refuse.
_MAX_LINE = 8190
_MAX_FIELD = 8190
_MAX_HEADERS = 128
# A head longer than this is aiohttp's to read (the lane buffers no more).
_MAX_HEAD = 16 * 1024
# Headers whose presence sends the request to aiohttp, which implements them.
_HANDED = ("transfer-encoding", "content-encoding", "expect", "upgrade", "sec-websocket-key1")
_SHUTDOWN_SECONDS = 2.0
# A head still arriving after this long is answered 408 and the connection closed; a
# connection that has received nothing for _IDLE_SECONDS (aiohttp's keepalive_timeout)
# while nothing is being answered closes; both looked for every _SWEEP_SECONDS.
_HEAD_SECONDS = 30.0
_IDLE_SECONDS = 75.0
_SWEEP_SECONDS = 15.0
_SLOW = b"The request's head came too slowly."
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_SLOW), _SLOW)
)


class LeanLane:
    """The lane of one app: the listening socket's protocol factory and what its
    connections share (the app, the aiohttp server that takes handed-over
    connections, the Date header of this second)."""

    __slots__ = (
        "_date",
        "_date_second",
        "_server",
        "_sweeper",
        "app",
        "closing",
        "connections",
        "handler_factory",
        "loop",
        "max_body",
        "no_match",
        "no_query",
        "routes",
        "state",
    )

    def __init__(self, app: web.Application, handler_factory: web.Server) -> None:
        self.app = app
        self.state = app[STATE]
        self.handler_factory = handler_factory
        self.loop = asyncio.get_running_loop()
        self.max_body = self.state.settings.max_body_bytes
        # The routes the lane serves (ServerState.lane_routes, filled by add_post).
        self.routes = {
            path.encode(): (path, handler) for path, handler in self.state.lane_routes.items()
        }
        self.no_query: MultiDictProxy[str] = MultiDictProxy(MultiDict())
        self.no_match: MappingProxyType[str, str] = MappingProxyType({})
        self.connections: set[LeanProtocol] = set()
        self._date = ""
        self._date_second = -1
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.closing = False  # the server stops: answer what is in flight, take no more

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Accept connections on ``host:port`` (0: a free one); the bound port."""
        self._server = await self.loop.create_server(
            lambda: LeanProtocol(self),
            host,
            port,
            reuse_address=True,
            reuse_port=reuse_port or None,
        )
        self._sweeper = self.loop.call_later(_SWEEP_SECONDS, self._sweep)
        return int(self._server.sockets[0].getsockname()[1])

    def _sweep(self) -> None:
        """Answer the heads that come too slowly; close the connections left idle."""
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check_time(now)
        self._sweeper = self.loop.call_later(_SWEEP_SECONDS, self._sweep)

    async def close(self) -> None:
        """Stop accepting; let the requests in flight finish (briefly), then close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        busy = []
        for conn in list(self.connections):
            if conn.task is None:
                conn.close()
            else:
                conn.close_after = True
                busy.append(conn.task)
        if busy:
            _, late = await asyncio.wait(busy, timeout=_SHUTDOWN_SECONDS)
            for task in late:  # a hang fault, a long paced stream: cut short
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for conn in list(self.connections):
            conn.close(abort=True)

    def date(self) -> str:
        """The Date header's value, formatted once a second."""
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, usegmt=True)
        return self._date


class _Head:
    """What llhttp reports of one request's head: the target and the headers, within
    aiohttp's limits (a head over them is not the lane's). ``httptools`` calls it."""

    __slots__ = ("done", "headers", "too_big", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.done = False
        self.too_big = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.too_big = self.too_big or len(self.url) > _MAX_LINE

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > _MAX_FIELD or len(self.headers) >= _MAX_HEADERS:
            self.too_big = True
        # As aiohttp reads them: llhttp keeps the whitespace after a value; UTF-8 with
        # the undecodable bytes kept as surrogates.
        self.headers.append(
            (name.decode("ascii"), value.rstrip(b" \t").decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        self.done = True


class LeanProtocol(asyncio.Protocol):
    """One connection while it is in the lane: requests one at a time, in order."""

    __slots__ = (
        "_buffer",
        "_drain",
        "_fed",
        "_head",
        "_head_since",
        "_lane",
        "_need",
        "_parser",
        "_pending",
        "_reading_paused",
        "_writing_paused",
        "close_after",
        "last_byte",
        "task",
        "transport",
    )

    def __init__(self, lane: LeanLane) -> None:
        self._lane = lane
        self.transport: asyncio.Transport | None = None
        # What has arrived and is not yet taken: the bytes of one read, or a bytearray
        # while a request arrives in pieces (appending to bytes would copy it all each time).
        self._buffer: bytes | bytearray = b""
        # The head being read: its parser, what it reported, how many bytes it was fed.
        self._parser: httptools.HttpRequestParser | None = None
        self._head = _Head()
        self._fed = 0
        # When the first byte of the head being read arrived (None: none yet).
        self._head_since: float | None = None
        # The request whose head is read and whose body is arriving, if any.
        self._pending: _Pending | None = None
        # How many bytes the request being read needs before it can be taken.
        self._need = 0
        self._reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self.close_after = False
        self.task: asyncio.Task[None] | None = None
        # When the last byte arrived (or the last answer left), on the loop's clock.
        self.last_byte = lane.loop.time()

    # ------------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but are ones.
        self.transport = cast(asyncio.Transport, transport)
        self._lane.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._lane.connections.discard(self)
        self._wake()

    def data_received(self, data: bytes) -> None:
        self.last_byte = self._lane.loop.time()
        buf = self._buffer
        if not buf:
            self._buffer = buf = data
        elif isinstance(buf, bytearray):
            buf += data
        else:
            self._buffer = buf = bytearray(buf) + data
        if self.task is None:
            if len(buf) >= self._need:
                self._take()
        else:
            self._flow()

    def eof_received(self) -> bool:
        # The client has sent all it will: answer what is in flight, then close.
        self.close_after = True
        return self.task is not None

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._flow()
        self._wake()

    def _flow(self) -> None:
        """Read while the socket takes what is written and what arrives can be held:
        a client that sends far ahead of the answers, or does not read them, waits."""
        transport = self.transport
        if transport is None:
            return
        pause = self._writing_paused or (
            self.task is not None and len(self._buffer) > _MAX_HEAD + self._lane.max_body
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def check_time(self, now: float) -> None:
        """Answer a head that comes too slowly (408); close a connection on which
        nothing has arrived for a while (between requests, or in a body)."""
        if self.task is not None:
            return
        if self._head_since is not None:
            if now - self._head_since > _HEAD_SECONDS:
                if self._open():
                    self.transport.write(_TIMEOUT)  # type: ignore[union-attr]
                self.close()
        elif now - self.last_byte > _IDLE_SECONDS:
            self.close()

    # ------------------------------------------------------------------ requests

    def _take(self) -> None:
        """Start the next whole request in the buffer, or hand the connection over."""
        buf = self._buffer
        pending = self._pending
        if pending is None:
            pending = self._read_head(buf)
            if pending is None:
                return  # the head is still arriving, or aiohttp has the connection
            self._pending = pending
        path, handler, headers, end, length = pending
        if len(buf) < end + length:
            self._need = end + length
            return  # the body is still arriving
        self._need = 0
        self._pending = None
        body = bytes(buf[end : end + length])
        self._buffer = buf[end + length :]
        request = LeanRequest(
            self, self._lane.app, path, headers, body, self._lane.no_query, self._lane.no_match
        )
        self.task = self._lane.loop.create_task(self._serve(request, handler))

    def _read_head(self, buf: bytes | bytearray) -> _Pending | None:
        """Feed llhttp what arrived of the head; once it is whole, what the lane serves
        (None while it arrives, and once the connection is handed over)."""
        parser = self._parser
        if parser is None:
            if buf.startswith(b"\r\n"):  # empty lines before the request: aiohttp's
                self._hand_off()
                return None
            parser = self._parser = httptools.HttpRequestParser(self._head)
            self._head_since = self._lane.loop.time()
        head = self._head
        # llhttp refuses every bare CR or LF, so the head ends at the first empty line:
        # llhttp is fed up to it and no further (the body and any pipelined request
        # are not its business); before it is seen, all that arrived.
        end = buf.find(b"\r\n\r\n", max(self._fed - 3, 0)) + 4
        fed_to = end if end > 3 else len(buf)
        try:
            with memoryview(buf) as view:
                parser.feed_data(view[self._fed : fed_to])
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if not head.done:  # a head llhttp refuses: aiohttp answers it (400)
                self._hand_off()
                return None
            # else: an error in what follows the head (an Upgrade): aiohttp's to answer
        if end <= 3:
            self._fed = fed_to
            if fed_to > _MAX_HEAD:
                self._hand_off()
            return None
        method, version = parser.get_method(), parser.get_http_version()
        self._parser, self._head, self._fed, self._head_since = None, _Head(), 0, None
        pending = None
        # A folded header (a line break llhttp keeps in a value) makes the lines and
        # the headers differ in number: aiohttp's to read.
        if (
            head.done
            and method == b"POST"
            and version == "1.1"
            and not head.too_big
            and end <= _MAX_HEAD
            and buf.count(b"\r\n", 0, end - 4) == len(head.headers)
        ):
            pending = self._route(head, end)
        if pending is None:
            self._hand_off()
        return pending

    def _route(self, head: _Head, end: int) -> _Pending | None:
        """The route, headers and body length of a request the lane serves; None for
        every other (aiohttp's to answer)."""
        route = self._lane.routes.get(head.url)
        if route is None:
            return None
        seen = {name.lower(): value for name, value in head.headers}
        if len(seen) != len(head.headers) or "host" not in seen:
            return None  # a header twice (Host, Content-Type, ...) or none: aiohttp refuses
        for name in _HANDED:
            if name in seen:
                return None
        connection = seen.get("connection")
        if connection is not None and connection.lower() != "keep-alive":
            return None
        content_type = seen.get("content-type")
        if content_type is not None and content_type != "application/json":
            return None
        if "origin" in seen and self._lane.state.settings.cors:
            return None  # aiohttp's response signal adds the CORS headers
        # llhttp has checked the digits and that the value fits 64 bits; leading zeros
        # can be any number (int() refuses more than 4,300 digits).
        digits = seen.get("content-length", "").lstrip("0")
        if "content-length" not in seen or len(digits) > 12:
            return None
        length = int(digits or "0")
        if length > self._lane.max_body:
            return None  # aiohttp answers 413
        path, handler = route
        headers = CIMultiDictProxy(CIMultiDict(head.headers))
        return path, handler, headers, end, length

    async def _serve(self, request: LeanRequest, handler: Handler) -> None:
        try:
            response = await answer(request, handler)
            if isinstance(response, LeanStream):
                if response.prepared and self._open():
                    await response.write_eof()
            else:
                self._send_whole(response)
            # One answer at a time: the next request waits until the socket takes this one.
            await self.drain()
        except ConnectionResetError:
            pass  # the client went away; nothing is left to say
        except Exception:  # a bug in mockllm: a 500, logged; the server keeps serving
            log.exception("mockllm failed writing the answer to POST %s", request.path)
            self._fail()
        finally:
            self.task = None
            self.last_byte = self._lane.loop.time()
        self._next()

    def _next(self) -> None:
        """After an answer: go on with what has arrived; close when the client has sent
        its last request (or the server stops) and every one is answered."""
        if self.transport is None:
            return
        self._flow()
        if self._buffer and not self._lane.closing:
            self._take()  # may hand the connection over: then it is no longer ours
        if self.close_after and self.task is None and self.transport is not None:
            self.close()

    def _send_whole(self, response: web.StreamResponse) -> None:
        """A whole answer (JSON, JSONP, an error) with its Content-Length."""
        if not self._open():
            return
        if response.status == CLOSED:  # nothing to say: the connection closes
            self.close()
            return
        assert isinstance(response, web.Response)
        body = response.body
        if body is None:
            body = b""
        if not isinstance(body, bytes):
            raise TypeError(f"the lean lane writes bytes bodies, not {type(body).__name__}")
        headers = response.headers
        headers[hdrs.CONTENT_LENGTH] = str(len(body))
        self.send(self.head(response.status, response.reason, headers) + body)

    def _fail(self) -> None:
        """A bare 500 when nothing was sent yet, then close."""
        if self._open():
            text = b"500 Internal Server Error\n\nServer got itself in trouble"
            self.transport.write(  # type: ignore[union-attr]
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; "
                b"charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(text), text)
            )
        self.close()

    # ------------------------------------------------------------------ hand-off

    def _hand_off(self) -> None:
        """From this request on, the connection is aiohttp's."""
        transport = self.transport
        if transport is None:
            return
        data, self._buffer = bytes(self._buffer), b""
        self._lane.connections.discard(self)
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self.transport = None  # no longer this protocol's to write to or close
        handler = self._lane.handler_factory()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._writing_paused:
            # The transport tells its new protocol when it can write again: the
            # protocol must have heard that it could not.
            handler.pause_writing()
        if data:
            handler.data_received(data)

    # ------------------------------------------------------------------ writing

    def _open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def head(self, status: int, reason: str, headers: CIMultiDict[str]) -> bytes:
        """The status line and headers; Date and Server added, as aiohttp adds them."""
        headers.setdefault(hdrs.DATE, self._lane.date())
        headers.setdefault(hdrs.SERVER, SERVER_SOFTWARE)
        lines = [f"HTTP/1.1 {status} {reason}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append("\r\n")
        text = "".join(lines)
        if text.count("\n") != len(lines) or text.count("\r") != len(lines):
            raise ValueError(
                "Newline or carriage return character detected in HTTP status "
                "message or header. This is a potential security issue."
            )
        return text.encode("utf-8")

    def send(self, data: bytes) -> None:
        """Write to the socket; a closed connection raises ConnectionResetError."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)

    async def drain(self) -> None:
        """Wait while the socket's buffer is full (a slow reader)."""
        if self._writing_paused and self.transport is not None:
            waiter = self._lane.loop.create_future()
            self._drain = waiter
            await waiter

    def _wake(self) -> None:
        waiter, self._drain = self._drain, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, *, abort: bool = False) -> None:
        """Close the connection (``abort``: without flushing what is unsent)."""
        transport = self.transport
        if transport is not None:
            transport.abort() if abort else transport.close()
