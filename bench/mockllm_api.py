"""Everything bench/ takes from mockllm, in one place.

The load benchmark drives mockllm only through its command line (``python -m mockllm
serve``, in bench/loadbench.py), so it survives a restructure of the package; the
in-process profile (bench/profile_request.py) needs the pieces of a request, and
imports them from here. When modules move, this file is the
only one in bench/ to follow them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from mockllm.config import Settings
from mockllm.http import wire as render
from mockllm.http.app import create_app
from mockllm.http.context import STATE
from mockllm.http.serving import start_site
from mockllm.reply_engine import streaming
from mockllm.reply_engine.seeding import request_seed
from mockllm.scenario_engine.conditions import RequestView, parse_overrides
from mockllm.state import run_now

__all__ = [
    "STATE",
    "RequestView",
    "make_app",
    "parse_overrides",
    "render",
    "request_seed",
    "run_now",
    "start_site",
    "streaming",
]


def make_app(scenario_paths: Sequence[Path] = ()) -> web.Application:
    """A mockllm app as ``mockllm serve`` builds it (built-in scenarios without paths)."""
    return create_app(Settings(port=0, scenario_paths=tuple(scenario_paths)))
