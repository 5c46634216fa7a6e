"""The checker's HTTP client: the standard library only, a deadline on every request.

``mockllm conform`` talks to servers it knows nothing about, so nothing here may hang:
every request has one deadline (connect, headers and body together), a stream is read
line by line with the socket's timeout set to what is left of it, and once a stream
has said it is finished (``sink.finished``, i.e. after ``data: [DONE]``) the client waits
only a short grace for the server to close. A refused connection, a reset or a
timeout becomes a ``ClientError`` whose message says which.

No third-party HTTP library: the checker must not share a client's quirks (aiohttp,
httpx) with the servers it checks, and mockllm's aiohttp stays inside its server.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import ClientError, ConfigError

__all__ = ["Answer", "Client", "ClientError", "LineSink"]

# Bodies and SSE lines bigger than this are cut (audio replies are a few MiB at most).
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
# After [DONE], how long to wait for the server to end the response.
GRACE_SECONDS = 2.0
USER_AGENT = "mockllm-conform/0.1"


class LineSink(Protocol):
    """Where a stream's lines go, one at a time (``sse.StreamReader`` is one)."""

    @property
    def finished(self) -> bool:
        """True once the stream has said its last word (the client then stops waiting)."""
        ...

    def feed(self, line: bytes) -> None:
        """One raw line of the body, with its line ending."""

    def end(self, note: str | None) -> None:
        """The body is over; ``note`` says why when it did not end cleanly."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names) and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters (``text/event-stream``), lower case."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)

    def excerpt(self, limit: int = 160) -> str:
        """The body as text, cut to ``limit`` characters, for messages."""
        text = self.body.decode("utf-8", "replace").strip()
        return text if len(text) <= limit else text[: limit - 3] + "..."


class Client:
    """Requests to one OpenAI-compatible base URL (``http://host:port/v1``)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"base URL {base_url!r} is not an http:// or https:// URL "
                "(for example http://localhost:11434/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"User-Agent": USER_AGENT}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def post(self, path: str, body: Mapping[str, Any]) -> Answer:
        """POST ``body`` as JSON to ``path`` (relative to the base URL) and read the answer."""
        with self._open("POST", path, body, "application/json") as exchange:
            return exchange.answer(exchange.read_all())

    def get(self, path: str) -> Answer:
        """GET ``path`` (relative to the base URL) and read the answer."""
        with self._open("GET", path, None, "application/json") as exchange:
            return exchange.answer(exchange.read_all())

    def stream(self, path: str, body: Mapping[str, Any], sink: LineSink) -> Answer:
        """POST ``body`` and hand a 200 answer's lines to ``sink`` as they arrive.

        Any other status is read whole and returned with its body (the sink gets nothing).
        The returned ``Answer`` of a stream has an empty body.
        """
        with self._open("POST", path, body, "text/event-stream") as exchange:
            if exchange.response.status != 200:
                return exchange.answer(exchange.read_all())
            sink.end(exchange.pump(sink))
            return exchange.answer(b"")

    def _open(
        self, method: str, path: str, body: Mapping[str, Any] | None, accept: str
    ) -> _Exchange:
        deadline = time.monotonic() + self._timeout
        if self._https:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        headers = {**self._headers, "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self._prefix + path, data, headers)
            # Kept apart: http.client forgets the socket once an answer says Connection: close.
            sock = connection.sock
            _arm(sock, deadline)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ClientError(_why(exc, self._timeout, f"{method} {self.base_url}{path}")) from None
        return _Exchange(connection, sock, response, deadline, self._timeout)


def _why(exc: BaseException, timeout: float, what: str) -> str:
    """Why ``what`` got no answer, in words for a check's report."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s ({what})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused ({what})"
    return f"{type(exc).__name__}: {exc} ({what})"


def _arm(sock: socket.socket | None, deadline: float) -> None:
    """Give the next socket operation only what is left of the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    if sock is not None:
        sock.settimeout(left)


class _Exchange:
    """One request on its own connection: reads its answer under the request's deadline."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        sock: socket.socket | None,
        response: http.client.HTTPResponse,
        deadline: float,
        timeout: float,
    ) -> None:
        self._timeout = timeout
        self._connection = connection
        self._sock = sock
        self.response = response
        self._deadline = deadline

    def __enter__(self) -> _Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()
        self._connection.close()

    def answer(self, body: bytes) -> Answer:
        """The answer's status and headers with ``body``."""
        headers = {name.lower(): value for name, value in self.response.getheaders()}
        return Answer(self.response.status, headers, body)

    def read_all(self) -> bytes:
        """The whole body (up to ``MAX_BODY_BYTES``)."""
        pieces: list[bytes] = []
        size = 0
        try:
            while size < MAX_BODY_BYTES:
                _arm(self._sock, self._deadline)
                piece = self.response.read1(65536)
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError(_why(exc, self._timeout, "reading the body")) from None
        return b"".join(pieces)

    def pump(self, sink: LineSink) -> str | None:
        """Feed lines until the body ends; a note when it did not end cleanly."""
        deadline = self._deadline
        while True:
            if sink.finished:
                deadline = min(deadline, time.monotonic() + GRACE_SECONDS)
            try:
                _arm(self._sock, deadline)
                line = self.response.readline(MAX_LINE_BYTES)
            except TimeoutError:
                if sink.finished:
                    return None  # it said its last word; a slow close is not the stream's fault
                return "the stream neither went on nor ended before the deadline"
            except (OSError, http.client.HTTPException) as exc:
                return f"the stream broke off: {type(exc).__name__}: {exc}"
            if not line:
                return None
            sink.feed(line)
