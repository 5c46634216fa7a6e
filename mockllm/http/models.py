"""``GET /v1/models``, ``GET /v1/models/{model}`` and the index page ``GET /``.

An Anthropic client (``anthropic-version`` or ``x-api-key``) gets Anthropic's shape.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import NotFoundError
from ..surfaces.messages import models as anthropic
from .context import state_of
from .middleware import json_response

__all__ = ["get_model", "index", "list_models"]


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "mockllm"}



async def list_models(request: web.Request) -> web.Response:
    """The configured models."""
    settings = state_of(request).settings
    if anthropic.is_anthropic(request.headers):  # Anthropic's clients read its shape
        return json_response(anthropic.page(settings, request.query))
    models = settings.models
    return json_response({"object": "list", "data": [_model_object(m) for m in models]})


async def get_model(request: web.Request) -> web.Response:
    """One model; 404 for a model the server does not serve."""
    settings = state_of(request).settings
    model = request.match_info["model"]
    if model not in settings.models and not settings.any_model:
        raise NotFoundError(f"The model `{model}` does not exist or you do not have access to it.",
                            openai_code="model_not_found", param="model")
    if anthropic.is_anthropic(request.headers):
        return json_response(anthropic.model_info(model))
    return json_response(_model_object(model))


async def index(request: web.Request) -> web.Response:
    """What this server is and where its API lives."""
    return json_response({
        "name": "mockllm",
        "chat_completions": "POST /v1/chat/completions",
        "models": "GET /v1/models",
        "openai_base_url": f"{request.scheme}://{request.host}/v1",
    })
