"""The request and the streamed answer of the lean lane (:mod:`.leanserver`).

The lean lane serves the chat completions path without aiohttp's per-request
machinery; the pipeline (:mod:`.chat`, :mod:`.delivery`, the middleware) runs
unchanged on the two small objects here. ``LeanRequest`` has exactly the parts of an
aiohttp request the pipeline reads; ``LeanStream`` is a ``web.StreamResponse`` that
writes its head and chunked body to the connection itself, byte for byte what
aiohttp would send. ``AnyRequest`` names either kind of request, and
``open_stream`` starts the streamed answer that fits the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy

__all__ = ["AnyRequest", "LeanConnection", "LeanRequest", "LeanStream", "open_stream"]


class LeanConnection(Protocol):
    """What a lean request and stream need of their connection."""

    @property
    def transport(self) -> Any:
        """The socket's transport; None once the connection is gone."""

    def head(self, status: int, reason: str, headers: CIMultiDict[str]) -> bytes:
        """The status line and headers, with Date and Server added as aiohttp adds them."""

    def send(self, data: bytes) -> None:
        """Write to the socket now (a closed one raises ConnectionResetError)."""

    def drain(self) -> Awaitable[None]:
        """Wait until the socket takes more (back-pressure of a slow reader)."""


class LeanRequest:
    """One chat completions request of the lean lane, as the pipeline sees it.

    Only what the lane takes arrives here: a POST to a plain path, without a query
    string, with its whole body already read (anything else goes to aiohttp).
    """

    __slots__ = (
        "_body",
        "_conn",
        "_store",
        "app",
        "content_length",
        "headers",
        "match_info",
        "method",
        "path",
        "query",
    )

    def __init__(
        self,
        conn: LeanConnection,
        app: web.Application,
        path: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        no_query: MultiDictProxy[str],
        no_match: Mapping[str, str],
    ) -> None:
        self._conn = conn
        self.app = app
        self.method = "POST"
        self.path = path
        self.headers = headers
        self.query = no_query
        self.match_info = no_match
        self.content_length: int | None = len(body)
        self._body = body
        self._store: dict[Any, Any] = {}

    @property
    def config_dict(self) -> web.Application:
        """The app's keys (one app: no sub-app chain to walk)."""
        return self.app

    @property
    def content_type(self) -> str:
        """The media type sent: the lane takes only JSON bodies (or no Content-Type)."""
        return self.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")

    @property
    def transport(self) -> Any:
        """The connection's transport; None once the client has gone."""
        return self._conn.transport

    async def read(self) -> bytes:
        """The whole body (read before the request reached the pipeline)."""
        return self._body

    def __getitem__(self, key: Any) -> Any:
        return self._store[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._store[key] = value

    def stream(self, status: int, headers: Mapping[str, str]) -> LeanStream:
        """A streamed answer on this request's connection."""
        return LeanStream(self._conn, status, headers)


# Either kind of request: aiohttp's (every route) or the lean lane's (chat completions).
AnyRequest = web.Request | LeanRequest


class LeanStream(web.StreamResponse):
    """A streamed answer (SSE) written by the lean lane: chunked, like aiohttp's.

    The head waits for the first body bytes, so a stream written at once leaves in one
    send, as aiohttp's writer does.
    """

    def __init__(self, conn: LeanConnection, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self._conn = conn
        self._head: bytes | None = None
        self._started = False
        self._done = False

    @property
    def prepared(self) -> bool:
        """Whether the head is written (or due with the first body bytes)."""
        return self._started

    async def prepare(self, request: object) -> None:
        """Fix the head; it leaves with the first write."""
        if self._started:
            return
        self._started = True
        self.headers[hdrs.TRANSFER_ENCODING] = "chunked"
        self._head = self._conn.head(self.status, self.reason, self.headers)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """One chunk of the body."""
        if self._done:
            raise RuntimeError("Cannot call write() after write_eof()")
        if data:
            self._send(b"%x\r\n" % len(data) + bytes(data) + b"\r\n")
            await self._conn.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        """The last chunk (if any) and the end of the body."""
        if self._done:
            return
        self._done = True
        last = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n" if data else b"0\r\n\r\n"
        self._send(last)

    def _send(self, data: bytes) -> None:
        head, self._head = self._head, None
        self._conn.send(head + data if head is not None else data)


async def open_stream(
    request: AnyRequest,
    *,
    status: int = 200,
    headers: Mapping[str, str],
    content_type: str | None = None,
    cache_control: str | None = None,
) -> web.StreamResponse:
    """A streamed answer to ``request`` with its head fixed (aiohttp's, or the lean
    lane's for a lean request); the head leaves with the first body bytes."""
    if isinstance(request, LeanRequest):
        lean = request.stream(status, headers)
        _describe(lean, content_type, cache_control)
        await lean.prepare(request)
        return lean
    response = web.StreamResponse(status=status, headers=headers)
    _describe(response, content_type, cache_control)
    await response.prepare(request)
    return response


def _describe(
    response: web.StreamResponse, content_type: str | None, cache_control: str | None
) -> None:
    if content_type is not None:
        response.content_type = content_type
    if cache_control is not None:
        response.headers[hdrs.CACHE_CONTROL] = cache_control
