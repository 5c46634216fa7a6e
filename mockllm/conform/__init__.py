"""``mockllm conform``: check any chat completions server against the wire format.

A fixed battery of named requests (``battery.CHECKS``) is sent to a server; each answer
is judged with mockllm's own definitions of correct: the generated ChatResponse schema
and the stream rules of ``conform.sse``, which mockllm's own stream tests use too.

Modules: ``client`` (stdlib HTTP with deadlines, SSE read line by line), ``sse`` (stream
framing, chunk rules, accumulation), ``battery`` (the checks), ``runner`` (selecting and
running them), ``report`` (text, JSON, JUnit XML), ``command`` (the CLI options).

The names below load on first use: the server replays streams with ``conform.sse``
alone, without the battery (and ``jsonschema``) it never runs.
"""

from __future__ import annotations

from types import MappingProxyType

from ..lazy import lazy_attributes

_EXPORTS = MappingProxyType({
    "CHECKS": "battery", "Check": "battery", "Client": "client", "Report": "runner",
    "Result": "runner", "Status": "battery", "run_checks": "runner",
})

__all__ = ["CHECKS", "Check", "Client", "Report", "Result", "Status", "run_checks"]


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, __all__)
