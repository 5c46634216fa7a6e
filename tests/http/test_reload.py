"""--reload: a changed scenario file is picked up; a broken change keeps the last good set."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from mockllm.config import Settings

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

COUNTER = """
scenarios:
  - name: counter
    when: {last_user_message: hi}
    sequence:
      - {content: one}
      - {content: two}
      - {content: three}
  - name: other
    when: {last_user_message: bye}
    reply: {content: VERSION}
"""


async def _content(client: TestClient, message: str = "hi") -> str:
    body = {**ASK, "messages": [{"role": "user", "content": message}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status == 200, await response.text()
    return (await response.json())["choices"][0]["message"]["content"]


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # mtime granularity can hide two writes in one tick: move it forward explicitly.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


async def _until(predicate, client: TestClient, timeout: float = 5.0) -> str:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await _content(client, "bye")
        if predicate(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_reload_picks_up_changes_and_keeps_state(
    make_app: Any, aiohttp_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "s.yaml"
    _write(file, COUNTER.replace("VERSION", "first"))
    client = await aiohttp_client(
        make_app(Settings(scenario_paths=(tmp_path,), reload=True, strict=True))
    )
    assert await _content(client) == "one"
    assert await _content(client, "bye") == "first"

    _write(file, COUNTER.replace("VERSION", "second"))
    assert await _until(lambda v: v == "second", client) == "second"
    # The unchanged scenario kept its sequence position across the reload.
    assert await _content(client) == "two"

    _write(file, "scenarios: [ {name: broken, when: {modle: x}} ]")
    await asyncio.sleep(1.2)
    assert await _content(client, "bye") == "second"  # the last good set keeps serving
    assert await _content(client) == "three"
