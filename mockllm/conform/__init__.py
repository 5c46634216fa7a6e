"""``mockllm conform``: check any chat completions server against the wire format.

A fixed battery of named requests (``battery.CHECKS``) is sent to a server; each answer
is judged with mockllm's own definitions of correct: the generated ChatResponse schema
and the stream rules of ``conform.sse``, which mockllm's own stream tests use too.

Modules: ``client`` (stdlib HTTP with deadlines, SSE read line by line), ``sse`` (stream
framing, chunk rules, accumulation), ``battery`` (the checks), ``runner`` (selecting and
running them), ``report`` (text, JSON, JUnit XML), ``command`` (the CLI options).
"""

from __future__ import annotations

from .battery import CHECKS, Check, Status
from .client import Client
from .runner import Report, Result, run_checks

__all__ = ["CHECKS", "Check", "Client", "Report", "Result", "Status", "run_checks"]
