"""What the client tests share: one request case, its checks, and installs cached per session.

Every client is asked the same thing (``CASE``) by the same four checks: a plain
completion, a stream the client accumulates itself, a tool call whose arguments the
client parses, and a 400 that surfaces as the client's own error type naming the field.
Clients that cannot live in the test venv (Node packages, the openai SDK 2.x) are
installed once per session into a folder shared by pytest-xdist workers.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
CASE: dict[str, Any] = {
    "model": "gpt-4o",
    "seed": 7,
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    "tool": {"name": "get_weather", "parameters": WEATHER_PARAMETERS},
}
# Out of range for every client: mockllm must refuse it with a 400 naming the field.
BAD_TEMPERATURE = 3


def reported(report: dict[str, Any], name: str, who: str) -> dict[str, Any]:
    """One check's result from a subprocess report, failing with what went wrong in it."""
    result = report[name]
    assert "unexpected" not in result, f"{who} {name}: {result['unexpected']}"
    return result


def assert_text_reply(content: object) -> str:
    """The reply is real text (several words), not an empty or placeholder string."""
    assert isinstance(content, str), content
    assert len(content.split()) >= 3, content
    return content


def assert_tool_arguments(args: object) -> None:
    """Parsed arguments are a mapping that satisfies the tool's own parameters schema."""
    assert isinstance(args, dict), f"the client did not parse the arguments: {args!r}"
    jsonschema.validate(args, WEATHER_PARAMETERS)


def assert_names_temperature(message: str) -> None:
    """The error text tells the user which field was wrong and why."""
    assert "Temperature" in message and "between 0 and 2" in message, message


def install_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, key: str, install: Callable[[Path], None]
) -> Path:
    """A folder that ``install`` filled for this ``key``, made once for all xdist workers.

    The folder lives in the session's shared temp root (the one above the workers'
    own), guarded by a file lock; a marker holding ``key`` says the install finished,
    so a failed or interrupted install is redone, not reused.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = root / f"{name}-{digest}"
    return install_into(folder, key, install)


def install_into(folder: Path, key: str, install: Callable[[Path], None]) -> Path:
    """Run ``install(folder)`` unless a finished install for ``key`` is already there."""
    marker = folder / ".mockllm-installed"
    # The lock lives outside the folder (an install may wipe it) and outside the checkout.
    lock_name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"mockllm-install-{lock_name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other xdist workers wait for the first install
        if marker.exists() and marker.read_text() == key:
            return folder
        install(folder)
        marker.write_text(key)
    return folder
