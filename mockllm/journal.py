"""The journal: a bounded, in-memory log of every exchange the server answered.

Each request, valid or not, leaves one ``Exchange``: what was sent, what validation
found, which scenario answered (or why none did), and what went back. Tests and the
control API read it to assert what the code under test sent.

The exchanges themselves live in the state store (``StateStore.record`` and
``exchanges``); this module defines what one is and how to search a list of them.
``JournalQuery`` is
the one filter used by the pytest plugin, the control API and failure messages:
"matches" is defined as "no criterion failed", so the same object also explains
how a near-by request differs from what an assertion looked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .chatbody import last_user_text, message_text
from .errors import BadRequestError, FieldError
from .redaction import redact_headers

__all__ = ["Exchange", "JournalQuery", "describe_near_miss", "near_miss_json", "select", "similar"]

# How much of a reply's text the one-line summaries show.
_SUMMARY_CHARS = 60
# How much of a request's message text a list row carries for searching.
_ROW_TEXT_CHARS = 4000
# The fields a JournalQuery compares, in the order its messages name them.
_CRITERIA = ("scenario", "model", "path", "status", "method", "surface")


def near_miss_json(near_miss: Any) -> Any:
    """A JSON-ready form of one near miss, whatever shape the scenario engine gives it."""
    to_json = getattr(near_miss, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(near_miss) and not isinstance(near_miss, type):
        return dataclasses.asdict(near_miss)
    if isinstance(near_miss, Mapping):
        return dict(near_miss)
    return str(near_miss)


def describe_near_miss(near_miss: Any) -> str:
    """One line saying which scenario nearly matched and why it did not."""
    describe = getattr(near_miss, "describe", None)
    if callable(describe):
        return str(describe())
    data = near_miss_json(near_miss)
    if isinstance(data, Mapping):
        name = data.get("scenario") or data.get("name") or "?"
        reasons = data.get("failed") or data.get("reasons") or data.get("reason") or ()
        if isinstance(reasons, str):
            reasons = (reasons,)
        # The scenario engine gives [{condition, reason}]; show the reasons.
        return f"{name}: " + "; ".join(
            str(r.get("reason", r)) if isinstance(r, Mapping) else str(r) for r in reasons
        )
    return str(data)


def _clip(text: str, limit: int = _SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class Exchange:
    """One request and its answer; read-only by convention (not ``frozen``: every request
    builds one, and a frozen dataclass sets each of its fields through a call)."""

    seq: int
    request_id: str
    time: float
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # secrets kept as scheme + last 4 characters (redaction.py)
    body: Any  # the parsed JSON body, or None when it did not parse
    raw_body: str | None  # the body text (truncated) when it did not parse
    field_errors: tuple[FieldError, ...]
    scenario: str | None
    near_misses: Sequence[Any]  # may be ranked lazily, on first read
    status: int
    response: Any  # the reply body (dict) or None for streams cut short
    error: str | None  # the error message when the status is not 2xx
    stream: bool
    duration_ms: float
    tags: Mapping[str, Any] = field(default_factory=dict)
    # The error's ServiceStack errorCode (``NoScenarioMatched``...), when the app passes it.
    error_code: str | None = None
    # The reply's headers (the response's own mapping: no copy on the hot path), redacted.
    reply_headers: Mapping[str, str] = field(default_factory=dict)
    # The surface (API) the request came through: ``chat``, ``responses``...; None for
    # a request no surface took (an unknown route).
    surface: str | None = None

    @property
    def model(self) -> str | None:
        """The model the request asked for, when it named one."""
        body = self.body
        return body.get("model") if isinstance(body, dict) else None

    @property
    def valid(self) -> bool:
        """Whether the request passed validation (and its body parsed)."""
        return not self.field_errors and self.raw_body is None

    @property
    def unmatched(self) -> bool:
        """Whether strict mode turned this request away because no scenario matched."""
        return self.error_code == "NoScenarioMatched"

    @property
    def reply_summary(self) -> str:
        """A short description of what went back: text, tool calls, refusal, or the error."""
        if self.error is not None:
            return f"error: {_clip(self.error)}"
        response = self.response
        if not isinstance(response, Mapping):
            return "stream" if self.stream else "-"
        choices = response.get("choices") or ()
        message = choices[0].get("message") if choices and isinstance(choices[0], Mapping) else None
        if not isinstance(message, Mapping):
            return "-"
        calls = message.get("tool_calls") or ()
        if calls:
            names = ", ".join(str((c.get("function") or {}).get("name")) for c in calls)
            return f"tool_calls: {names}"
        if message.get("refusal"):
            return f"refusal: {_clip(str(message['refusal']))}"
        content = message.get("content")
        if isinstance(content, str):
            return f"content: {_clip(content)!r}"
        return "content: null"

    @property
    def last_user_message(self) -> str | None:
        """The text of the last user message, exactly as scenario conditions see it."""
        messages = self._messages
        return last_user_text(messages) if messages is not None else None

    @property
    def _messages(self) -> list[Any] | None:
        """The request's ``messages``, when it sent a list of them."""
        body = self.body
        messages = body.get("messages") if isinstance(body, Mapping) else None
        return messages if isinstance(messages, list) else None

    def log_line(self, verbose: bool = False) -> str:
        """The server log's line for this exchange; ``verbose`` adds validation details.

        ``POST /v1/chat/completions 200 scenario=greeting 1.3ms -> content: 'Hello'``
        """
        scenario = self.scenario if self.scenario is not None else "-"
        line = (
            f"{self.method} {self.path} {self.status} scenario={scenario} {self.duration_ms:.1f}ms"
        )
        if not verbose:
            return line
        details = [f"{line} -> {self.reply_summary}"]
        if self.model is not None:
            details.append(f"  model: {self.model}")
        details.extend(
            f"  invalid {f.param or f.field_name}: {f.message}" for f in self.field_errors
        )
        if self.raw_body is not None:
            details.append(f"  body: {_clip(self.raw_body, 200)!r}")
        details.extend(f"  near miss {describe_near_miss(n)}" for n in self.near_misses)
        return "\n".join(details)

    def describe(self) -> str:
        """A few lines for a failed assertion: what was asked, what answered, what went back."""
        parts = [
            f"#{self.seq} {self.method} {self.path} -> {self.status}",
            f"model={self.model}",
            f"scenario={self.scenario}",
        ]
        user = self.last_user_message
        if user is not None:
            parts.append(f"user={_clip(user)!r}")
        parts.append(self.reply_summary)
        return "  ".join(parts)

    def _head_json(self) -> dict[str, Any]:
        """What every JSON view of an exchange starts with: which one it is."""
        return {
            "seq": self.seq,
            "request_id": self.request_id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "surface": self.surface,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view, for the control API and failure messages."""
        return {
            **self._head_json(),
            # str(): aiohttp's header names are istr, which orjson refuses as keys.
            "query": {str(k): v for k, v in self.query.items()},
            # Redacted again: an exchange made by hand may carry a key in clear.
            "headers": {str(k): v for k, v in redact_headers(self.headers).items()},
            "reply_headers": {str(k): v for k, v in redact_headers(self.reply_headers).items()},
            "body": self.body,
            "raw_body": self.raw_body,
            "valid": self.valid,
            "field_errors": [
                {
                    "fieldName": f.field_name,
                    "param": f.param,
                    "errorCode": f.error_code,
                    "code": f.code,
                    "message": f.message,
                }
                for f in self.field_errors
            ],
            "scenario": self.scenario,
            "near_misses": [near_miss_json(n) for n in self.near_misses],
            "status": self.status,
            "error_code": self.error_code,
            "response": self.response,
            "summary": self.reply_summary,
            "error": self.error,
            "stream": self.stream,
            "duration_ms": round(self.duration_ms, 3),
            # What happened beside the reply: an injected fault, a client that went away.
            "tags": dict(self.tags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exchange:
        """The exchange of a :meth:`to_json` view (a journal kept outside the process)."""
        return cls(
            seq=data["seq"],
            request_id=data["request_id"],
            time=data["time"],
            method=data["method"],
            path=data["path"],
            query=data["query"],
            headers=data["headers"],
            body=data["body"],
            raw_body=data["raw_body"],
            field_errors=tuple(
                FieldError(
                    field_name=f["fieldName"],
                    param=f["param"],
                    error_code=f["errorCode"],
                    code=f["code"],
                    message=f["message"],
                )
                for f in data["field_errors"]
            ),
            scenario=data["scenario"],
            near_misses=tuple(data["near_misses"]),
            status=data["status"],
            response=data["response"],
            error=data["error"],
            stream=data["stream"],
            duration_ms=data["duration_ms"],
            tags=data["tags"],
            error_code=data["error_code"],
            reply_headers=data.get("reply_headers") or {},
            surface=data.get("surface"),
        )

    @property
    def search_text(self) -> str:
        """The text of every message of the request, one per line (for searching)."""
        messages = self._messages
        if messages is None:
            return self.raw_body or ""
        return "\n".join(text for text in map(message_text, messages) if text)

    def row_json(self) -> dict[str, Any]:
        """The short JSON view of a list of exchanges (the browser view's rows): what a
        row shows, filters and searches; ``to_json`` has the rest."""
        return {
            **self._head_json(),
            "model": self.model if isinstance(self.model, str) else None,
            "status": self.status,
            "scenario": self.scenario,
            "duration_ms": round(self.duration_ms, 3),
            "stream": self.stream,
            "invalid": len(self.field_errors) + (self.raw_body is not None),
            "unmatched": self.unmatched,
            # Tag names with a short value (the fault's kind), not their details.
            "tags": {
                str(k): v if isinstance(v, (str, int, float, bool)) else True
                for k, v in self.tags.items()
            },
            "text": self.search_text[:_ROW_TEXT_CHARS],
        }


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Criteria on exchanges; ``None`` means "any". Matches when no criterion fails."""

    scenario: str | None = None
    model: str | None = None
    path: str | None = None
    status: int | None = None
    method: str | None = None
    surface: str | None = None
    predicate: Callable[[Exchange], bool] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> JournalQuery:
        """A query from URL parameters (``?scenario=greeting&status=200``)."""
        status = params.get("status")
        if status is not None and not status.isdigit():
            raise BadRequestError(
                f"status must be an HTTP status number, not {status!r}.", param="status"
            )
        return cls(
            scenario=params.get("scenario"),
            model=params.get("model"),
            path=params.get("path"),
            method=params.get("method"),
            surface=params.get("surface"),
            status=int(status) if status is not None else None,
        )

    def misses(self, exchange: Exchange) -> list[str]:
        """How ``exchange`` differs from the query; empty when it matches."""
        found: list[str] = []
        for name in _CRITERIA:
            wanted = getattr(self, name)
            actual = getattr(exchange, name)
            if wanted is not None and actual != wanted:
                found.append(f"{name} is {actual!r}, not {wanted!r}")
        if self.predicate is not None and not self.predicate(exchange):
            found.append("the predicate is false")
        return found

    def matches(self, exchange: Exchange) -> bool:
        """Whether ``exchange`` meets every criterion."""
        return not self.misses(exchange)

    def __str__(self) -> str:
        named = [f"{n}={getattr(self, n)!r}" for n in _CRITERIA if getattr(self, n) is not None]
        if self.predicate is not None:
            named.append(f"predicate={getattr(self.predicate, '__name__', 'predicate')}")
        return ", ".join(named) or "any request"


def select(
    entries: Sequence[Exchange],
    query: JournalQuery,
    *,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[Exchange]:
    """The exchanges of ``entries`` (oldest first) matching ``query``, oldest first
    unless asked; at most ``limit``."""
    ordered = list(reversed(entries)) if newest_first else list(entries)
    found = [e for e in ordered if query.matches(e)]
    return found if limit is None else found[: max(0, limit)]


def similar(
    entries: Sequence[Exchange], query: JournalQuery, count: int = 5
) -> list[tuple[Exchange, list[str]]]:
    """The exchanges nearest to ``query`` that miss it, with how each differs.

    Fewest failed criteria first, then newest first: what a failed assertion shows.
    """
    scored = [(e, query.misses(e)) for e in reversed(entries)]
    near = [pair for pair in scored if pair[1]]
    near.sort(key=lambda pair: len(pair[1]))
    return near[:count]
