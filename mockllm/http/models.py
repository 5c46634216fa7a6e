"""``GET /v1/models``, ``GET /v1/models/{model}`` and the index page ``GET /``.

The models are the server's catalog (:mod:`mockllm.catalog`). A request with an
``anthropic-version`` header (Anthropic's SDKs send one) gets Anthropic's shapes and the
catalog's Messages models; any other gets OpenAI's shapes and every model.
"""

from __future__ import annotations

from aiohttp import web

from .. import __version__
from ..catalog import ModelCard, unknown_model
from .context import state_of
from .middleware import json_response

__all__ = ["get_model", "index", "list_models"]


def _anthropic(request: web.Request) -> bool:
    return "anthropic-version" in request.headers


async def list_models(request: web.Request) -> web.Response:
    """The catalog's models, in its order."""
    catalog = state_of(request).catalog
    if _anthropic(request):
        data = [card.anthropic_object() for card in catalog.for_api("messages")]
        return json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return json_response({"object": "list", "data": [card.openai_object() for card in catalog]})


async def get_model(request: web.Request) -> web.Response:
    """One model; 404 for a model the catalog does not know when model errors are on
    (``--strict-models``), else a plain entry for it."""
    catalog = state_of(request).catalog
    model = request.match_info["model"]
    card = catalog.get(model)
    if card is None:
        if catalog.strict:
            raise unknown_model(model)
        card = ModelCard(id=model, snapshot=model, owned_by="mockllm", released="2023-11-14")
    if _anthropic(request):
        return json_response(card.anthropic_object())
    return json_response(card.openai_object())


async def index(request: web.Request) -> web.Response:
    """What this server is and where its API lives."""
    root = f"{request.scheme}://{request.host}"
    return json_response(
        {
            "name": "mockllm",
            "version": __version__,
            "chat_completions": "POST /v1/chat/completions",
            "models": "GET /v1/models",
            "openai_base_url": f"{root}/v1",
            # Where a person who opened this URL in a browser goes next.
            "browser_view": f"{root}/__mockllm/ui",
            "control_api": f"{root}/__mockllm/",
            "docs": "README.md and docs/ of mockllm's source; `mockllm --help` for the command",
        }
    )
