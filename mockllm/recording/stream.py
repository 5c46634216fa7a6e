"""A relayed stream, watched as it passes: its chunks, their arrival times, the reply.

``StreamCapture.feed(data, at)`` takes the bytes of an SSE body as they arrive (any
split) with the time they arrived; it never holds the relay up. At the end,
``completion()`` is the ``chat.completion`` the chunks add up to (the conformance
checker's accumulator, so recording and checking share one reading of a stream) and
``timing()`` the first-token delay and token rate that make a replay pace like the
original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..conform.sse import StreamReader, analyse

__all__ = ["StreamCapture", "StreamTiming"]

# Envelope fields the accumulator leaves out that a reply spec can script.
_ENVELOPE = ("system_fingerprint", "service_tier", "provider")


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """When a stream's chunks arrived, relative to the request going upstream."""

    first_ms: float  # the first chunk
    last_ms: float  # the last chunk
    chunks: int  # how many chat.completion.chunk events

    def replay(self, replay_chunks: int) -> dict[str, Any]:
        """The reply ``timing`` that paces a replay like the recording: ``ttft_ms`` is the
        first chunk's delay, and ``tokens_per_second`` (one token per chunk) spreads the
        replay's ``replay_chunks`` chunks over the time the recorded ones took, so the
        replayed stream lasts as long as the original whatever the two chunkings."""
        spec: dict[str, Any] = {"ttft_ms": round(self.first_ms)}
        span_ms = self.last_ms - self.first_ms
        if replay_chunks > 1 and span_ms > 0:
            spec["tokens_per_second"] = round((replay_chunks - 1) * 1000.0 / span_ms, 2)
        return spec


class StreamCapture:
    """The SSE lines of one relayed stream with the time each chunk arrived."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._reader = StreamReader()
        self._partial = b""
        self._times: list[float] = []

    @property
    def done(self) -> bool:
        """True once ``data: [DONE]`` arrived."""
        return self._reader.finished

    def feed(self, data: bytes, at: float) -> None:
        """Bytes of the body as they arrived (``at``: a ``time.perf_counter()`` value)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        reader = self._reader
        for line in lines:
            before = len(reader.chunks)
            reader.feed(line)
            if len(reader.chunks) > before:
                self._times.append((at - self._started) * 1000.0)

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The chunks read so far, in order."""
        return self._reader.chunks

    def completion(self) -> dict[str, Any]:
        """The ``chat.completion`` the chunks accumulate to (as a client builds it)."""
        reader = self._reader
        if self._partial:  # a last line without its line ending
            reader.feed(self._partial)
            self._partial = b""
        reader.feed(b"")  # and a last event without its blank line
        chunks = self._reader.chunks
        body = analyse(chunks, include_usage=False).completion
        for chunk in chunks:
            for key in _ENVELOPE:
                if chunk.get(key) is not None:
                    body.setdefault(key, chunk[key])
        return body

    def timing(self) -> StreamTiming | None:
        """When the chunks came; None for a stream without any."""
        times = self._times
        if not times:
            return None
        return StreamTiming(times[0], times[-1], len(times))
