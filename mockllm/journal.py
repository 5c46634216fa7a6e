"""The journal: a bounded, in-memory log of every exchange the server answered.

Each request, valid or not, leaves one ``Exchange``: what was sent, what validation
found, which scenario answered (or why none did), and what went back. Tests and the
control API read it to assert what the code under test sent.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError

__all__ = ["Exchange", "Journal"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its answer."""

    seq: int
    request_id: str
    time: float
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any  # the parsed JSON body, or None when it did not parse
    raw_body: str | None  # the body text (truncated) when it did not parse
    field_errors: tuple[FieldError, ...]
    scenario: str | None
    near_misses: tuple[Any, ...]
    status: int
    response: Any  # the reply body (dict) or None for streams cut short
    error: str | None  # the error message when the status is not 2xx
    stream: bool
    duration_ms: float
    tags: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        """The model the request asked for, when it named one."""
        body = self.body
        return body.get("model") if isinstance(body, dict) else None

    @property
    def valid(self) -> bool:
        """Whether the request passed validation."""
        return not self.field_errors

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view, for the control API and failure messages."""
        return {
            "seq": self.seq,
            "request_id": self.request_id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "body": self.body,
            "raw_body": self.raw_body,
            "valid": self.valid,
            "field_errors": [
                {"fieldName": f.field_name, "param": f.param, "errorCode": f.error_code,
                 "code": f.code, "message": f.message}
                for f in self.field_errors
            ],
            "scenario": self.scenario,
            "near_misses": list(self.near_misses),
            "status": self.status,
            "response": self.response,
            "error": self.error,
            "stream": self.stream,
            "duration_ms": round(self.duration_ms, 3),
        }


class Journal:
    """A bounded log of exchanges, oldest dropped first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[Exchange] = deque(maxlen=max(1, size))
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        """A number for the next exchange, increasing for the life of the journal."""
        return next(self._seq)

    def record(self, exchange: Exchange) -> None:
        """Keep one exchange."""
        self._entries.append(exchange)

    def clear(self) -> None:
        """Forget every exchange."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self._entries)

    def newest_first(self) -> list[Exchange]:
        """Every exchange kept, newest first."""
        return list(reversed(self._entries))

    def filter(self, predicate: Callable[[Exchange], bool]) -> list[Exchange]:
        """The exchanges, oldest first, for which ``predicate`` holds."""
        return [e for e in self._entries if predicate(e)]
