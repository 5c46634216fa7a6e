"""Anthropic's request headers (auth, ``anthropic-version``, beta) and response headers.

Auth: an ``x-api-key`` or an ``Authorization: Bearer`` token (SDK 2.x and Claude Code
send the bearer form); neither is a 401 ``authentication_error``, as the API answers.
Any key is accepted: mockllm checks that one is sent, not what it is.

Versions: ``2023-06-01`` (every 0.x/1.x client) and ``2026-10-21`` (the SDKs' majors of
that day); none at all is taken as ``2023-06-01``; another value is a 400. Under
``2026-10-21`` the API refuses ``temperature``, ``top_p`` and ``top_k`` (even at their
defaults), a ``document`` block in an assistant message, and a user ``text`` block with
citations; mockllm refuses them the same way.

The response carries ``request-id`` (the journal's id, ``req_...``) and, when rate
limits are set, the ``anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,
remaining,reset}`` headers (reset as an RFC 3339 time) with ``retry-after`` on a 429.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...errors import BadRequestError, FieldError, UnauthorizedError

__all__ = ["VERSIONS", "api_key", "check", "is_beta", "reply_headers", "version_rules"]

VERSIONS = ("2023-06-01", "2026-10-21")
_SAMPLING = ("temperature", "top_p", "top_k")
_OPENAI_RATE = re.compile(r"x-ratelimit-(limit|remaining|reset)-(requests|tokens)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS: Mapping[str, float] = MappingProxyType({"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001})


def api_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``x-api-key``, else a bearer token."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check(headers: Mapping[str, str]) -> str:
    """The request's API version; a 401 without a key, a 400 for an unknown version."""
    if api_key(headers) is None:
        raise UnauthorizedError("x-api-key header is required")
    version = headers.get("anthropic-version") or VERSIONS[0]
    if version not in VERSIONS:
        raise BadRequestError(
            f'anthropic-version: "{version}" is not a valid version', param="anthropic-version"
        )
    return version


def is_beta(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether the request is the beta client's (``?beta=true`` or ``anthropic-beta``)."""
    return query.get("beta") == "true" or bool(headers.get("anthropic-beta"))


def _problem(where: str, message: str) -> FieldError:
    return FieldError(
        field_name=where, param=where, error_code="version", code="version", message=message
    )


def version_rules(version: str, body: Mapping[str, Any]) -> list[FieldError]:
    """What ``2026-10-21`` refuses in ``body`` (nothing under ``2023-06-01``)."""
    if version != "2026-10-21":
        return []
    found = [_problem(key, "Extra inputs are not permitted") for key in _SAMPLING if key in body]
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, Mapping) else None
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(block, Mapping):
                continue
            where = f"messages.{i}.content.{j}"
            if message.get("role") == "assistant" and block.get("type") == "document":
                found.append(
                    _problem(where, "document blocks are not permitted in assistant messages")
                )
            if (
                message.get("role") == "user"
                and block.get("type") == "text"
                and block.get("citations")
            ):
                found.append(
                    _problem(f"{where}.citations", "citations are not permitted in user messages")
                )
    return found


def _seconds(duration: str) -> float:
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(duration))


def reply_headers(
    request_id: str, sent: Mapping[str, str], now: datetime.datetime | None = None
) -> dict[str, str]:
    """``sent`` (the rate limiter's OpenAI-spelled headers, or an error's) in Anthropic's
    spelling, with ``request-id``."""
    out: dict[str, str] = {}
    moment = now or datetime.datetime.now(datetime.UTC)
    for name, value in sent.items():
        match = _OPENAI_RATE.fullmatch(name.lower())
        if match is None:
            out[name] = value
            continue
        field, kind = match.groups()
        if field == "reset":
            value = (moment + datetime.timedelta(seconds=_seconds(value))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        out[f"anthropic-ratelimit-{kind}-{field}"] = value
        if kind == "tokens":
            out[f"anthropic-ratelimit-input-tokens-{field}"] = value
    out["request-id"] = request_id
    return out
