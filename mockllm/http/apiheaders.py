"""The headers OpenAI's API puts on every answer, successes and errors alike.

``openai-version: 2020-10-01``, ``openai-processing-ms`` (how long the answer took),
``x-request-id`` (``req_`` and 32 hex digits), ``access-control-expose-headers:
X-Request-ID`` and the six ``x-ratelimit-*`` headers: the server's real counts when a
rate limit is configured (:mod:`mockllm.ratelimit`), else generous defaults (a tier-5
account's), so clients that read them find them. :func:`stamp` is the one place they
are made: the error middleware calls it for every answer it returns (both lanes use
it), the chat pipeline before a stream's head goes out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType

__all__ = ["GENEROUS_LIMITS", "OPENAI_VERSION", "stamp"]

OPENAI_VERSION = "2020-10-01"

# What a tier-5 account sees for gpt-4o-mini: nothing a test will run into.
GENEROUS_LIMITS: Mapping[str, str] = MappingProxyType(
    {
        "x-ratelimit-limit-requests": "30000",
        "x-ratelimit-limit-tokens": "150000000",
        "x-ratelimit-remaining-requests": "29999",
        "x-ratelimit-remaining-tokens": "149999990",
        "x-ratelimit-reset-requests": "2ms",
        "x-ratelimit-reset-tokens": "0s",
    }
)


def stamp(
    headers: MutableMapping[str, str], request_id: str, started: float, *, default_limits: bool
) -> None:
    """Add the API's headers to ``headers`` (module docstring), keeping any already set
    (a 429's real rate-limit counts, a scenario's own headers); ``started`` is the
    ``time.perf_counter()`` of the request's arrival. ``default_limits``: no rate limit
    is configured, so the ``x-ratelimit-*`` headers are the generous defaults."""
    headers.setdefault("openai-version", OPENAI_VERSION)
    headers.setdefault(
        "openai-processing-ms", str(max(0, round((time.perf_counter() - started) * 1000)))
    )
    headers["x-request-id"] = request_id
    headers.setdefault("access-control-expose-headers", "X-Request-ID")
    if default_limits:
        for name, value in GENEROUS_LIMITS.items():
            headers.setdefault(name, value)
