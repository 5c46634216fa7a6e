"""Errors as Anthropic writes them: its types, their statuses, and its envelope.

    {"type": "error",
     "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
     "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}

The status <-> type table is Anthropic's (docs ``api/errors``; the SDKs map each status
to an exception class: 529 -> ``OverloadedError``, 429 -> ``RateLimitError``...). A
scenario may script any of these types with ``error: {status: 529, type:
overloaded_error}``; a type it does not give is the one its status has here. A body
with several problems names them all in the one message, ``; ``-separated, each as
``location: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...errors import APIError, openai_type_for_status

__all__ = ["ERROR_TYPES", "error_body", "error_event", "error_type", "message_of"]

# Anthropic's error types by HTTP status.
ERROR_TYPES: Mapping[int, str] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
)
_KNOWN_TYPES = frozenset(ERROR_TYPES.values())


def error_type(error: APIError) -> str:
    """Anthropic's ``error.type`` for ``error``: the scripted one when it is one of
    Anthropic's, else the one of its status (another 4xx: ``invalid_request_error``,
    another 5xx: ``api_error``)."""
    scripted = error.openai_type
    if scripted in _KNOWN_TYPES and scripted != openai_type_for_status(error.status):
        return str(scripted)
    found = ERROR_TYPES.get(error.status)
    if found is not None:
        return found
    return "api_error" if error.status >= 500 else "invalid_request_error"


def message_of(error: APIError) -> str:
    """The one message: every field problem as ``location: problem``, or the error's."""
    if error.field_errors:
        return "; ".join(
            f"{f.param}: {f.message}" if f.param else f.message for f in error.field_errors
        )
    return error.message


def error_body(error: APIError, request_id: str | None) -> dict[str, Any]:
    """The envelope of an error answered before the reply (any status)."""
    return {
        "type": "error",
        "error": {"type": error_type(error), "message": message_of(error)},
        "request_id": request_id,
    }


def error_event(error: APIError) -> dict[str, Any]:
    """The ``error`` event that ends a stream midway (the status is already 200)."""
    return {"type": "error", "error": {"type": error_type(error), "message": message_of(error)}}
