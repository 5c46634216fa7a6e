"""A real redis-server for the tests of the Redis state store, on a free loopback port.

Found on PATH or at /usr/bin/redis-server. Without one the Redis tests skip with a
note, except in CI (``REQUIRE_REDIS=1``), where a missing binary fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["RedisServer", "find_redis_server"]


def find_redis_server() -> str:
    """The redis-server binary; skips (or fails under REQUIRE_REDIS=1) without one."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found is None:
        message = (
            "redis-server not found: the Redis state store tests need it "
            "(apt-get install redis-server)"
        )
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(message + "; REQUIRE_REDIS=1 makes them required")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process without persistence; ``stop()`` and ``start()`` again
    (on the same port) simulate a Redis restart."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="mockllm-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop the server (the data goes with it)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
