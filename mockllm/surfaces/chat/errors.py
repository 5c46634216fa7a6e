"""Chat completions errors: the ServiceStack ``responseStatus`` envelope, OpenAI's
``error`` envelope, or both (``--error-dialect``). Also the server's envelope for
anything no surface answers (an unknown route, the control API)."""

from __future__ import annotations

from typing import Any

import orjson

from ...config import ErrorDialect
from ...errors import APIError

__all__ = ["error_body", "openai_error"]


def error_body(error: APIError, dialect: ErrorDialect) -> dict[str, Any]:
    """The error body: ServiceStack ``responseStatus``, OpenAI ``error``, or both."""
    body: dict[str, Any] = {}
    if dialect is not ErrorDialect.OPENAI:
        body["responseStatus"] = {
            "errorCode": error.error_code,
            "message": error.message,
            "errors": [
                {"errorCode": f.error_code, "fieldName": f.field_name, "message": f.message}
                for f in error.field_errors
            ],
        }
        if error.details:
            # ResponseStatus.Meta is a string map: each detail as compact JSON text.
            body["responseStatus"]["meta"] = {
                key: orjson.dumps(value).decode() for key, value in error.details.items()
            }
    if dialect is not ErrorDialect.SERVICESTACK:
        body["error"] = openai_error(error)
    return body


def openai_error(error: APIError) -> dict[str, Any]:
    """OpenAI's ``error`` object: ``message``, ``type``, ``param``, ``code``."""
    return {
        "message": _openai_message(error),
        "type": error.openai_type,
        "param": error.param,
        "code": error.openai_code,
    }


def _openai_message(error: APIError) -> str:
    """OpenAI carries one message: with several field errors, list them all in it."""
    if len(error.field_errors) <= 1:
        return error.message
    lines = [f"{len(error.field_errors)} problems with the request:"]
    lines += [f"- {f.param}: {f.message}" for f in error.field_errors]
    return "\n".join(lines)
