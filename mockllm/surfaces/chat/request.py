"""Chat completions requests: the body is already in the neutral spelling.

The neutral request view was defined on chat completions' fields, so a chat body is
its own view; what this surface adds is its validation (the ServiceStack DTO's
schema, every problem at once).
"""

from __future__ import annotations

from typing import Any

from ...errors import FieldError
from ..base import Engine

__all__ = ["validate", "view"]


def validate(engine: Engine, body: dict[str, Any], raw: bytes) -> list[FieldError]:
    """Every problem of ``body`` against the ChatCompletion schema."""
    return engine.validator.validate(body, raw)


def view(body: dict[str, Any]) -> dict[str, Any]:
    """The neutral view of a chat body: the body itself."""
    return body
