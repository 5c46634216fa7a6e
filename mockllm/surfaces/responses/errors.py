"""Responses errors: OpenAI's ``{"error": {message, type, param, code}}`` envelope,
always (the Responses API has no ServiceStack form), and the not-found answers of its
resource routes."""

from __future__ import annotations

from typing import Any

from ...errors import APIError, BadRequestError, NotFoundError
from ..chat.errors import openai_error

__all__ = ["error_body", "previous_not_found", "response_not_found"]


def error_body(error: APIError) -> dict[str, Any]:
    """The error envelope of any failure on a Responses route."""
    return {"error": openai_error(error)}


def response_not_found(response_id: str) -> NotFoundError:
    """The 404 of GET, DELETE, cancel and input_items for an unknown id."""
    return NotFoundError(f"Response with id '{response_id}' not found.", param=None)


def previous_not_found(response_id: str) -> BadRequestError:
    """The 400 of a ``previous_response_id`` that was never stored (or was deleted)."""
    return BadRequestError(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        openai_code="previous_response_not_found",
    )
