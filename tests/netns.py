"""Test hosts on one machine: network namespaces joined by a bridge that the test makes
(``bench/netns.py``, shared with ``python -m bench.hosts``).

This needs root and iproute2; without them the tests skip with a note, except under
``REQUIRE_NETNS=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest

from bench.netns import Bridge, Host, mockllm_argv, redis_argv

__all__ = ["Bridge", "Host", "find_ip", "mockllm_argv", "redis_argv"]


def find_ip() -> str:
    """The ``ip`` command; skips (fails under REQUIRE_NETNS=1) without it or root."""
    found = shutil.which("ip")
    problem = None
    if os.geteuid() != 0:
        problem = "the several-hosts tests make network namespaces, which needs root"
    elif found is None:
        problem = "ip (iproute2) not found: the several-hosts tests need it"
    if problem is not None:
        if os.environ.get("REQUIRE_NETNS") == "1":
            pytest.fail(problem + "; REQUIRE_NETNS=1 makes them required")
        pytest.skip(problem)
    assert found is not None
    return found
