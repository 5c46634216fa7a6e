"""CORS, so browser apps (the Vercel AI SDK, ServiceStack's JS client) can use mockllm.

A local mock is called from a dev page on another origin; without these headers the
browser blocks every answer. On by default (``--no-cors`` turns it off): preflight
``OPTIONS`` requests get a 204, and every answer to a request with an ``Origin``
carries ``Access-Control-Allow-Origin`` and exposes the headers clients read.
"""

from __future__ import annotations

from aiohttp import hdrs, web

__all__ = ["setup_cors"]

# Headers a browser client may read from an answer: request id, rate-limit state.
_EXPOSED = ", ".join(
    [
        "x-request-id",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ]
)


def setup_cors(app: web.Application, *, private_prefix: str) -> None:
    """Answer preflights on every route added so far, and mark every answer.

    Paths under ``private_prefix`` (the control API) stay out: a web page the developer
    happens to visit must not be able to rewrite the scenarios of a local mockllm.
    """
    for resource in list(app.router.resources()):
        # Plain and dynamic paths (not static files), except the private ones.
        if isinstance(resource, web.Resource) and not resource.canonical.startswith(private_prefix):
            resource.add_route(hdrs.METH_OPTIONS, _preflight)

    async def allow_origin(request: web.Request, response: web.StreamResponse) -> None:
        if hdrs.ORIGIN in request.headers and not request.path.startswith(private_prefix):
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = _EXPOSED

    app.on_response_prepare.append(allow_origin)


async def _preflight(request: web.Request) -> web.Response:
    allowed = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "*")
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET, POST, DELETE, OPTIONS",
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: allowed,
            hdrs.ACCESS_CONTROL_MAX_AGE: "600",
        },
    )
