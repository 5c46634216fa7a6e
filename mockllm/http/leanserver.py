"""The lean lane: the API's POST routes served straight off the socket, the rest by aiohttp.

Every connection of a running server (``serving.start_site``) starts here. The lane
reads each request's head itself; a plain POST with a JSON body to one of the app's
lane routes (``ServerState.lane_routes``, mounted by :func:`~.context.add_post`: the
chat completions paths, and each surface's own) runs through the same pipeline as on
aiohttp (the middleware's :func:`~.middleware.answer` around the route's handler),
as a :class:`~.leanio.LeanRequest`, and its answer
is written here with the bytes aiohttp would write. That skips aiohttp's request,
router and writer objects, which cost a mock more than the reply itself.

Anything else (another route or method, a query string, a chunked body, ``Expect``,
``Upgrade``, ``Connection: close``, HTTP/1.0, another content type, a browser's
``Origin`` while CORS is on, a body over the size limit, a head the lane does not
parse) hands the connection to aiohttp for good, with the bytes of that request:
aiohttp answers it, and every later request of the connection, exactly as a server
without the lane would.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from email.utils import formatdate
from types import MappingProxyType
from typing import cast

from aiohttp import hdrs, web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from .context import STATE, Handler
from .delivery import CLOSED
from .leanio import LeanRequest, LeanStream
from .middleware import answer

__all__ = ["LeanLane"]

log = logging.getLogger("mockllm")

# The request line the lane takes, and a head's header lines (each ends in CRLF).
_REQUEST_LINE = re.compile(rb"POST (/[^ ?#]*) HTTP/1\.1")
_HEADER_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
# One header line, decoded: its name and its value without the whitespace around it.
_HEADER = re.compile(r"([^:]+):[ \t]*(.*?)[ \t]*\r\n")
# Headers whose presence sends the request to aiohttp, which implements them.
_HANDED = (hdrs.TRANSFER_ENCODING, hdrs.EXPECT, hdrs.UPGRADE)
# A head longer than this without its end is aiohttp's to refuse.
_MAX_HEAD = 16 * 1024
_SHUTDOWN_SECONDS = 2.0
# An idle keep-alive connection closes after this long (aiohttp's keepalive_timeout),
# looked for every _SWEEP_SECONDS.
_IDLE_SECONDS = 75.0
_SWEEP_SECONDS = 15.0


class LeanLane:
    """The lane of one app: the listening socket's protocol factory and what its
    connections share (the app, the aiohttp server that takes handed-over
    connections, the Date header of this second)."""

    __slots__ = ("_date", "_date_second", "_server", "_sweeper", "app", "closing",
                 "connections", "handler_factory", "loop", "max_body", "no_match", "no_query",
                 "routes", "state")

    def __init__(self, app: web.Application, handler_factory: web.Server) -> None:
        self.app = app
        self.state = app[STATE]
        self.handler_factory = handler_factory
        self.loop = asyncio.get_running_loop()
        self.max_body = self.state.settings.max_body_bytes
        # The routes the lane serves (ServerState.lane_routes, filled by add_post).
        self.routes = {path.encode(): (path, handler)
                       for path, handler in self.state.lane_routes.items()}
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
            lambda: LeanProtocol(self), host, port, reuse_address=True,
            reuse_port=reuse_port or None)
        self._sweeper = self.loop.call_later(_SWEEP_SECONDS, self._sweep)
        return int(self._server.sockets[0].getsockname()[1])

    def _sweep(self) -> None:
        """Close the connections idle for longer than a keep-alive lasts."""
        limit = self.loop.time() - _IDLE_SECONDS
        for conn in list(self.connections):
            if conn.task is None and conn.idle_since < limit:
                conn.close()
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


class LeanProtocol(asyncio.Protocol):
    """One connection while it is in the lane: requests one at a time, in order."""

    __slots__ = ("_buffer", "_drain", "_lane", "_need", "_reading_paused", "_writing_paused",
                 "close_after", "idle_since", "task", "transport")

    def __init__(self, lane: LeanLane) -> None:
        self._lane = lane
        self.transport: asyncio.Transport | None = None
        # What has arrived and is not yet taken: the bytes of one read, or a bytearray
        # while a request arrives in pieces (appending to bytes would copy it all each time).
        self._buffer: bytes | bytearray = b""
        # How many bytes the request being read needs before it can be taken.
        self._need = 0
        self._reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self.close_after = False
        self.task: asyncio.Task[None] | None = None
        # When the last answer went out (or the connection opened), on the loop's clock.
        self.idle_since = lane.loop.time()

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
        elif len(buf) > self._lane.max_body + _MAX_HEAD and self.transport is not None:
            # A client sending far ahead of the answers: wait until this one is answered.
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        # The client has sent all it will: answer what is in flight, then close.
        self.close_after = True
        return self.task is not None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # ------------------------------------------------------------------ requests

    def _take(self) -> None:
        """Start the next whole request in the buffer, or hand the connection over."""
        buf = self._buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                self._hand_off()
            return
        line_end = buf.find(b"\r\n")
        line = _REQUEST_LINE.fullmatch(buf, 0, line_end)
        route = self._lane.routes.get(line.group(1)) if line is not None else None
        if route is None or _HEADER_LINES.fullmatch(buf, line_end + 2, end + 2) is None:
            self._hand_off()
            return
        # Checked line by line above; read as aiohttp reads them (UTF-8, surrogates kept).
        text = buf[line_end + 2:end + 2].decode("utf-8", "surrogateescape")
        headers: CIMultiDict[str] = CIMultiDict(_HEADER.findall(text))
        length = self._body_length(headers)
        if length is None:
            self._hand_off()
            return
        start = end + 4
        if len(buf) < start + length:
            self._need = start + length
            return  # the body is still arriving
        self._need = 0
        body = bytes(buf[start:start + length])
        self._buffer = buf[start + length:]
        path, handler = route
        request = LeanRequest(self, self._lane.app, path, CIMultiDictProxy(headers), body,
                              self._lane.no_query, self._lane.no_match)
        self.task = self._lane.loop.create_task(self._serve(request, handler))

    def _body_length(self, headers: CIMultiDict[str]) -> int | None:
        """The body's length when the lane takes the request; None hands it over."""
        lengths = headers.getall(hdrs.CONTENT_LENGTH, ())
        if len(lengths) != 1 or not lengths[0].isdigit() or not lengths[0].isascii():
            return None
        for name in _HANDED:
            if name in headers:
                return None
        connection = headers.get(hdrs.CONNECTION)
        if connection is not None and connection.lower() != "keep-alive":
            return None
        content_type = headers.get(hdrs.CONTENT_TYPE)
        if content_type is not None and content_type != "application/json":
            return None
        if hdrs.ORIGIN in headers and self._lane.state.settings.cors:
            return None  # aiohttp's response signal adds the CORS headers
        length = int(lengths[0])
        return length if length <= self._lane.max_body else None

    async def _serve(self, request: LeanRequest, handler: Handler) -> None:
        try:
            response = await answer(request, handler)
            if isinstance(response, LeanStream):
                if response.prepared and self._open():
                    await response.write_eof()
            else:
                self._send_whole(response)
        except ConnectionResetError:
            pass  # the client went away; nothing is left to say
        except Exception:  # a bug in mockllm: a 500, logged; the server keeps serving
            log.exception("mockllm failed writing the answer to POST %s", request.path)
            self._fail()
        finally:
            self.task = None
            self.idle_since = self._lane.loop.time()
        self._next()

    def _next(self) -> None:
        """After an answer: go on with what has arrived; close when the client has sent
        its last request (or the server stops) and every one is answered."""
        transport = self.transport
        if transport is None:
            return
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
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
                % (len(text), text))
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
            raise ValueError("Newline or carriage return character detected in HTTP status "
                             "message or header. This is a potential security issue.")
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

