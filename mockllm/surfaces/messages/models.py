"""``GET /v1/models`` and ``GET /v1/models/{id}`` in Anthropic's shape.

Asked by an Anthropic client (an ``anthropic-version`` or ``x-api-key`` header), the
models list is a page of ``ModelInfo`` (``type: model``, ``id``, ``display_name``,
``created_at``...) with ``has_more``, ``first_id`` and ``last_id``, paged by ``limit``
(1-1000, default 20), ``after_id`` and ``before_id``. The models are the server's
``--models`` that are Claude's (``claude-...``), else a few current Claude ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...config import Settings
from ...errors import BadRequestError

__all__ = ["CLAUDE_MODELS", "claude_models", "is_anthropic", "model_info", "page"]

CLAUDE_MODELS = ("claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5")


def is_anthropic(headers: Mapping[str, str]) -> bool:
    """Whether a request comes from an Anthropic client."""
    return "anthropic-version" in headers or "x-api-key" in headers


def claude_models(settings: Settings) -> tuple[str, ...]:
    """The models an Anthropic client is shown."""
    return tuple(m for m in settings.models if m.startswith("claude")) or CLAUDE_MODELS


def model_info(model: str) -> dict[str, Any]:
    """One ``ModelInfo``."""
    words = model.removeprefix("claude-").split("-")
    name = " ".join(w.capitalize() if not w[:1].isdigit() else w for w in words)
    return {
        "type": "model",
        "id": model,
        "display_name": f"Claude {name}".replace(" 4 ", " 4.").strip(),
        "created_at": "2025-01-01T00:00:00Z",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
        "capabilities": None,
    }


def page(settings: Settings, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the list, as ``limit``, ``after_id`` and ``before_id`` ask."""
    models = list(claude_models(settings))
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise BadRequestError(
            "limit: Input should be greater than or equal to 1 and less than or equal to 1000",
            param="limit",
        )
    start, end = 0, len(models)
    if query.get("after_id") in models:
        start = models.index(query["after_id"]) + 1
    if query.get("before_id") in models:
        end = models.index(query["before_id"])
        start = max(start, end - limit)
    chosen = models[start:end][:limit]
    return {
        "data": [model_info(m) for m in chosen],
        "has_more": start + len(chosen) < end,
        "first_id": chosen[0] if chosen else None,
        "last_id": chosen[-1] if chosen else None,
    }
