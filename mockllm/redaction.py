"""Secrets in headers: which header names hold one, and the redacted form the journal keeps.

The journal goes to many places (``GET /__mockllm/requests``, the browser view, Redis
with ``--state``, the test handle, failure messages), and when recording, the keys sent
are real ones. So an exchange keeps a secret header only as its scheme and last four
characters (``Bearer ***wxyz``): enough to tell which key a client used, not enough to
use it. A header is secret when its name is ``Authorization``/``Proxy-Authorization``
or one of its words (split at ``-`` and ``_``) ends in key, token, secret, password or
cookie: ``x-api-key``, ``x-auth-token``, ``Cookie``, ``Set-Cookie``, ``x-client-secret``.
``x-ratelimit-remaining-tokens`` is not one ("tokens" is a count).

``header_text`` is a value as JSON can carry it: bytes that are not UTF-8 (which the
HTTP parsers keep as lone surrogates) become U+FFFD, in the journal and in a reply
that echoes the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, cast

__all__ = ["RedactedHeaders", "header_text", "is_secret_header", "redact_headers", "redact_value"]

# A word of the header name that says it carries a secret (``apikey``, ``accesstoken``...);
# searched only in a name that holds one of _HINTS (a regex per header costs too much).
_SECRET_NAME = re.compile(
    r"(?:^|[-_])(?:proxy-)?authorization$|(?:^|[-_])[a-z]*(?:key|token|secret|password|cookie)"
    r"(?:$|[-_])"
)
_HINTS = ("key", "token", "secret", "password", "cookie", "authorization")
# How many characters of a secret are kept, and how long it must be to keep any.
_KEPT = 4
_LONG_ENOUGH = 12
_MASK = "***"


def is_secret_header(name: str) -> bool:
    """Whether a header called ``name`` carries a secret (see the module's docstring)."""
    lowered = name.lower()
    for hint in _HINTS:
        if hint in lowered:
            return _SECRET_NAME.search(lowered) is not None
    return False


def header_text(value: str) -> str:
    """``value`` with the bytes that were not UTF-8 (kept by the parsers as lone
    surrogates, which no JSON encoder takes) as U+FFFD; ``value`` itself when it is
    ASCII, as nearly every header is."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def redact_value(value: str) -> str:
    """``value`` as the journal keeps it: its scheme (``Bearer``, ``Basic``) when it has
    one, then ``***`` and the secret's last four characters (none of a short secret)."""
    scheme, space, secret = value.strip().rpartition(" ")
    if secret.startswith(_MASK):
        return value  # redacted already (an exchange read back from Redis)
    tail = secret[-_KEPT:] if len(secret) >= _LONG_ENOUGH else ""
    return f"{scheme}{space}{_MASK}{tail}"


def redact_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with every secret value redacted (and every value as
    :func:`header_text`): ``headers`` itself when none is secret or undecodable (no
    copy), else a copy of the same kind (case-insensitive if it was)."""
    secret = [name for name in headers if is_secret_header(name)]
    odd = [name for name, value in headers.items() if not value.isascii()]
    if not secret and not odd:
        return headers
    copy = getattr(headers, "copy", None)
    out: Any = copy() if callable(copy) else dict(headers)
    for name in odd:
        out[name] = header_text(headers[name])
    for name in secret:
        out[name] = redact_value(out[name])
    return cast(Mapping[str, str], out)


class RedactedHeaders(Mapping[str, str]):
    """A read-only view of a request's or reply's headers with the secrets redacted.

    Made in O(1) on the request path (the journal keeps one per exchange); the
    redacted mapping is built on first read, and the one seen in clear dropped then.
    """

    __slots__ = ("_raw", "_view")

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw: Mapping[str, str] | None = raw
        self._view: Mapping[str, str] | None = None

    def _redacted(self) -> Mapping[str, str]:
        view = self._view
        if view is None:
            view = self._view = redact_headers(self._raw or {})
            self._raw = None
        return view

    def __getitem__(self, name: str) -> str:
        return self._redacted()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._redacted())

    def __len__(self) -> int:
        return len(self._redacted())

    def __repr__(self) -> str:
        return f"RedactedHeaders({dict(self._redacted().items())!r})"
