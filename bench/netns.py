"""Hosts on one machine: network namespaces joined by a bridge made for the run.

Each :class:`Host` is a network namespace with its own address on a private /24 (from
10.231.0.0/16, chosen per test run) reached through a bridge in the machine's own
namespace; processes started on a host run there (``ip netns exec``), so a server bound
to the host's address is another machine's server as far as its clients can tell. Only
the run's own addresses are ever targets, and nothing leaves the machine. ``teardown``
kills what was started and deletes the namespaces, the veth pairs and the bridge.

This needs root and iproute2. The several-hosts tests (``tests/deploy/test_hosts.py``) and
``python -m bench.hosts`` use it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["MOCKLLM_PORT", "REDIS_PORT", "Bridge", "Host", "mockllm_argv", "redis_argv"]

# The ports redis-server and mockllm listen on, each on its own host.
REDIS_PORT = 6379
MOCKLLM_PORT = 8000


def redis_argv(binary: str, address: str, folder: str) -> list[str]:
    """redis-server on ``address``, without persistence (a restart forgets everything),
    open to the other hosts of the bridge."""
    return [
        binary,
        "--bind",
        address,
        "--port",
        str(REDIS_PORT),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--dir",
        folder,
    ]


def mockllm_argv(host: Host, redis: Host | None, *options: str) -> list[str]:
    """``mockllm serve`` (this Python's) bound to ``host``'s address, without an access
    log, its state in the Redis on ``redis`` (None: in its own memory)."""
    state = ["--state", f"redis://{redis.address}:{REDIS_PORT}/0"] if redis else []
    return [
        sys.executable,
        "-m",
        "mockllm",
        "serve",
        "--host",
        host.address,
        "--port",
        str(MOCKLLM_PORT),
        "--quiet",
        *state,
        *options,
    ]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


class Host:
    """One network namespace with one address on the bridge."""

    def __init__(self, name: str, address: str, link: str) -> None:
        self.name = name
        self.address = address
        # Its veth end in this namespace: deleting it deletes the pair at once (the
        # namespace itself may outlive ``ip netns del`` while the kernel drops sockets).
        self.link = link
        self.processes: list[subprocess.Popen[bytes]] = []

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host; ``teardown`` kills it if it still runs."""
        process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *argv], **kwargs
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        """Signal one process and wait for it; its exit status."""
        if process.poll() is None:
            process.send_signal(sig)
        return process.wait(15)


class Bridge:
    """A bridge in this namespace and the hosts plugged into it."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.name = f"mlbr{tag}"
        # A /24 per test run: concurrent runs on one machine get different ones.
        self.subnet = f"10.231.{os.getpid() % 250}"
        self.hosts: list[Host] = []
        _ip("link", "add", self.name, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.name)
        _ip("link", "set", self.name, "up")

    def add_host(self, label: str) -> Host:
        """A new namespace with the next address, its loopback and veth up."""
        number = len(self.hosts) + 10
        outer, inner = f"{self.name}v{number}", "eth0"
        host = Host(f"mockllm-{os.getpid()}-{label}", f"{self.subnet}.{number}", outer)
        _ip("netns", "add", host.name)
        self.hosts.append(host)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", host.name)
        _ip("link", "set", outer, "master", self.name)
        _ip("link", "set", outer, "up")
        for args in (
            ("addr", "add", f"{host.address}/24", "dev", inner),
            ("link", "set", inner, "up"),
            ("link", "set", "lo", "up"),
        ):
            _ip("-n", host.name, *args)
        return host

    def teardown(self) -> None:
        """Kill every process started on a host, delete the namespaces and the bridge."""
        for host in self.hosts:
            for process in host.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
            subprocess.run(["ip", "link", "del", host.link], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.name], capture_output=True, check=False)
