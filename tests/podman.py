"""podman for the container tests: the settings these machines need, a base image made
from Debian's packages, and the project's image built from the root ``Dockerfile``.

What it takes is measured in ``../shared/reference/containers.md``: runc instead of
crun, lower default ulimits (both in a private ``containers.conf`` named by
``CONTAINERS_CONF``, the system's left alone), no registry (the base is made with
``debootstrap`` and ``podman import``, kept between runs), ``--network=host`` for pip and
the host's pip CA bundle mounted for the build only. Without root, podman or debootstrap
the tests skip with a note; CI sets ``REQUIRE_PODMAN=1`` and they fail instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = [
    "BASE_IMAGE",
    "README",
    "REPO",
    "Podman",
    "Started",
    "find_podman",
    "image",
    "podman",
    "readme_block",
]

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# The Debian base every checkout on this machine shares (made once, ~45 s).
BASE_IMAGE = "localhost/mockllm-base:bookworm"
_BASE_PACKAGES = "python3,python3-venv,ca-certificates"
_CONF = """\
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=32768:32768"]

[engine]
runtime = "runc"
"""


def _require(message: str) -> None:
    if os.environ.get("REQUIRE_PODMAN") == "1":
        pytest.fail(message + "; REQUIRE_PODMAN=1 makes the container tests required")
    pytest.skip(message)


def find_podman() -> Podman:
    """podman set up for these tests; skips (fails under REQUIRE_PODMAN=1) without it."""
    if os.geteuid() != 0:
        _require(
            "the container tests run podman as root (apt-get install podman runc "
            "iptables debootstrap, then run the tests as root)"
        )
    missing = [tool for tool in ("podman", "runc", "debootstrap") if not shutil.which(tool)]
    if missing:
        _require(
            f"{', '.join(missing)} not found: the container tests need podman, runc "
            "and debootstrap (apt-get install podman runc iptables debootstrap)"
        )
    return Podman()


@pytest.fixture(scope="session")
def podman() -> Podman:
    """podman with this project's settings (skips without root or podman)."""
    return find_podman()


@pytest.fixture(scope="session")
def image(podman: Podman) -> str:
    """The image, built from this checkout (a source change rebuilds in seconds)."""
    tag, _seconds = podman.build()
    return tag


def readme_block(marker: str) -> str:
    """The code block after ``<!-- MARKER -->`` in the README."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```\w*\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no block after <!-- {marker} -->"
    return match.group(1)


def _debian_mirror() -> str:
    """The mirror apt uses here (a machine may point at a nearer one than deb.debian.org)."""
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if not source.exists():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


def _pip_cert() -> str | None:
    """The CA bundle the host's pip trusts (the egress proxy's certificate is in it)."""
    cert = os.environ.get("PIP_CERT")
    if not cert:
        try:
            cert = subprocess.run(
                ["pip", "config", "get", "global.cert"], capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            cert = ""
    return cert if cert and os.path.isfile(cert) else None


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """Hold a machine-wide lock: several checkouts' test runs share one podman."""
    with open(Path(tempfile.gettempdir()) / f"mockllm-podman-{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Podman:
    """Runs podman with this project's private ``containers.conf``."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "mockllm-podman"
        folder.mkdir(exist_ok=True)
        conf = folder / "containers.conf"
        if not conf.exists() or conf.read_text() != _CONF:
            conf.write_text(_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        # One tag per checkout, so engineers' runs on one machine do not build over each other.
        self.image = "localhost/mockllm-test:" + hashlib.sha256(str(REPO).encode()).hexdigest()[:12]

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``podman ARGS`` (its output captured); a failure names the command and its stderr."""
        done = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            input=stdin.decode() if stdin is not None else None,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def ensure_base(self) -> str:
        """The Debian base image, made with debootstrap the first time (kept between runs)."""
        with _locked("base"):
            if self.run("image", "exists", BASE_IMAGE, check=False).returncode == 0:
                return BASE_IMAGE
            root = Path(tempfile.mkdtemp(prefix="mockllm-debootstrap-"))
            try:
                made = subprocess.run(
                    [
                        "debootstrap",
                        "--variant=minbase",
                        f"--include={_BASE_PACKAGES}",
                        "bookworm",
                        str(root),
                        _debian_mirror(),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
                if made.returncode != 0:
                    raise AssertionError(
                        f"debootstrap failed:\n{made.stdout[-3000:]}\n{made.stderr[-3000:]}"
                    )
                tar = subprocess.Popen(
                    ["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
                )
                imported = subprocess.run(
                    ["podman", "import", "-", BASE_IMAGE],
                    env=self.env,
                    stdin=tar.stdout,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                tar.wait()
                if imported.returncode != 0:
                    raise AssertionError(f"podman import failed: {imported.stderr[-3000:]}")
            finally:
                shutil.rmtree(root, ignore_errors=True)
            return BASE_IMAGE

    def build(self, *extra: str) -> tuple[str, float]:
        """Build the repository's ``Dockerfile`` on the Debian base; the tag and seconds."""
        base = self.ensure_base()
        args = [
            "build",
            "--network=host",
            "--format",
            "docker",
            "--build-arg",
            f"BASE={base}",
            "-t",
            self.image,
            "-f",
            str(REPO / "Dockerfile"),
        ]
        cert = _pip_cert()
        if cert:
            args += ["--volume", f"{cert}:{cert}:ro", "--build-arg", f"PIP_CERT={cert}"]
        index = os.environ.get("PIP_INDEX_URL")
        if index and index.startswith(("http://", "https://")):
            args += ["--build-arg", f"PIP_INDEX_URL={index}"]
        started = time.monotonic()
        with _locked("build-" + self.image.rsplit(":", 1)[1]):
            self.run(*args, *extra, str(REPO), timeout=1200)
        return self.image, time.monotonic() - started

    def inspect(self, name: str) -> dict[str, object]:
        """``podman inspect NAME`` (a container or an image), parsed."""
        found = json.loads(self.run("inspect", name).stdout)
        assert isinstance(found, list) and found, found
        first = found[0]
        assert isinstance(first, dict)
        return first

    def remove(self, names: Sequence[str]) -> None:
        """Remove containers, running or not, ignoring ones already gone."""
        if names:
            self.run("rm", "-f", "-t", "0", *names, check=False)

    def start(
        self,
        image: str,
        *options: str,
        env: dict[str, str] | None = None,
        command: Sequence[str] = (),
    ) -> Started:
        """Run ``image`` detached, port 8000 published on a free 127.0.0.1 port, and wait
        until its health probe answers."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        name = f"mockllm-test-{os.getpid()}-{port}"
        args = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        self.run(*args, *options, image, *command)
        started = Started(self, name, f"http://127.0.0.1:{port}")
        try:
            started.wait_healthy()  # its failure carries the server's output
        except BaseException:
            started.remove()  # nobody else holds it: do not leave it behind
            raise
        return started


class Started:
    """A running container: its name and the URL its port 8000 is published on."""

    def __init__(self, podman: Podman, name: str, url: str) -> None:
        self.podman = podman
        self.name = name
        self.url = url

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds until ``GET /__mockllm/health`` answers 200 (no token needed)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                with urllib.request.urlopen(self.url + "/__mockllm/health", timeout=2) as reply:
                    if reply.status == 200:
                        return time.monotonic() - started
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        logs = self.podman.run("logs", self.name, check=False)
        raise AssertionError(
            f"{self.name} not healthy after {timeout} s:\n"
            f"{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
        )

    def logs(self) -> str:
        """What the server printed (stdout and stderr)."""
        done = self.podman.run("logs", self.name, check=False)
        return done.stdout + done.stderr

    def remove(self) -> None:
        """Stop and remove the container (gone already is fine)."""
        self.podman.remove([self.name])
