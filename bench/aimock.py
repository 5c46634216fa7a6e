"""CopilotKit aimock, the Node peer the benchmark compares with: install it, start it.

``python -m bench.aimock`` (the bench setup step; ``python -m bench`` runs it too when
aimock is missing) installs the npm package ``@copilotkit/aimock`` at the pinned
``VERSION`` into ``bench/.aimock/`` (git-ignored) with the ordinary ``npm`` client.
Without Node and npm nothing is installed and :func:`find` says why, so the
benchmark skips the aimock rows with that note instead of failing.

aimock is started through its ``llmock`` command, the one that takes fixture files
(``-f``): ``node <llmock> -p PORT -h 127.0.0.1 -f fixtures.json --log-level warn``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGE", "VERSION", "Aimock", "command", "find", "install", "main"]

PACKAGE = "@copilotkit/aimock"
VERSION = "1.43.0"
MIN_NODE = (20, 15)  # the package's engines.node
DIR = Path(__file__).resolve().parent / ".aimock"


@dataclass(frozen=True, slots=True)
class Aimock:
    """An installed aimock: the Node binary, its ``llmock`` script, the versions."""

    node: str
    script: Path
    version: str
    node_version: str


def _node_version(node: str) -> tuple[str, tuple[int, ...]]:
    out = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return out, tuple(int(n) for n in re.findall(r"\d+", out)[:2])


def _package_json(folder: Path) -> Path:
    return folder / "node_modules" / Path(*PACKAGE.split("/")) / "package.json"


def find(folder: Path = DIR) -> tuple[Aimock | None, str]:
    """The installed pinned aimock and ``""``, or None and the reason it cannot run."""
    node = shutil.which("node")
    if node is None:
        return None, "Node.js is not installed (no `node` on PATH)"
    shown, parts = _node_version(node)
    if parts < MIN_NODE:
        return None, f"Node {shown} is older than aimock's minimum {MIN_NODE[0]}.{MIN_NODE[1]}"
    manifest = _package_json(folder)
    if not manifest.is_file():
        return None, f"{PACKAGE} is not installed in {folder} (run `python -m bench.aimock`)"
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    if meta.get("version") != VERSION:
        return None, (
            f"{folder} holds {PACKAGE} {meta.get('version')}, not the pinned "
            f"{VERSION} (run `python -m bench.aimock`)"
        )
    script = manifest.parent / meta["bin"]["llmock"]
    return Aimock(node, script, VERSION, shown), ""


def install(folder: Path = DIR) -> tuple[Aimock | None, str]:
    """Install the pinned aimock into ``folder`` unless it is there; then :func:`find`."""
    found, why = find(folder)
    if found is not None or shutil.which("node") is None:
        return found, why
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed, so aimock cannot be installed"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "package.json"
    manifest.write_text(
        json.dumps(
            {
                "name": "mockllm-bench-aimock",
                "private": True,
                "description": "aimock for mockllm's benchmark (python -m bench.aimock)",
                "dependencies": {PACKAGE: VERSION},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=dev"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return None, f"npm install {PACKAGE}@{VERSION} failed: {done.stderr.strip()[-500:]}"
    return find(folder)


def command(aimock: Aimock, fixtures: Path, port: int) -> list[str]:
    """The command line that serves ``fixtures`` on 127.0.0.1:``port``."""
    return [
        aimock.node,
        str(aimock.script),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-f",
        str(fixtures),
        "--log-level",
        "warn",
    ]


def main(argv: list[str] | None = None) -> int:
    """Install the pinned aimock (the bench setup step) and say where it is."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.aimock", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dir", type=Path, default=DIR, help=f"install folder (default {DIR})")
    args = parser.parse_args(argv)
    found, why = install(args.dir)
    if found is None:
        print(f"aimock not available: {why}", file=sys.stderr)
        return 1
    print(f"{PACKAGE} {found.version} on Node {found.node_version}: {found.script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
