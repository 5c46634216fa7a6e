"""The http layer: the only package that imports aiohttp.

The app factory, the middleware, the chat handler as named steps, the control API,
CORS, timed delivery and wire encoding (JSON, JSONP, SSE, error bodies).
"""

__all__: list[str] = []
