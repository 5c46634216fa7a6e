"""Where recorded scenarios go: stable YAML files, with secrets scrubbed first.

A ``RecordingBook`` writes either one file per scenario under a folder (``mockllm
record --out DIR``: ``DIR/<scenario name>.yaml``) or every scenario of a test into one
file (the pytest plugin: ``tests/recordings/<module>/<test>.yaml``). A scenario whose
conditions were already recorded gets the new reply appended to its ``sequence``.
Files are written whole (a temporary file renamed over the old one) in a fixed key
order, multi-line text as YAML blocks, so the same exchanges give the same bytes.

``Redactor`` replaces every match of the configured patterns, the built-in key
patterns and every key the exchange was sent with by ``[REDACTED]`` in every string
of a scenario before it is written; authorization headers are never part of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .scenario import merge

__all__ = ["DEFAULT_REDACTIONS", "REDACTED", "RecordingBook", "Redactor", "dump_yaml"]

REDACTED = "[REDACTED]"
# Secrets that look like secrets: OpenAI-style keys and bearer tokens.
DEFAULT_REDACTIONS: tuple[str, ...] = (
    r"\bsk-[A-Za-z0-9_\-]{8,}",
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*",
)
_HEADER = "# Recorded by mockllm (docs/recording.md): edit freely, it is a scenario file.\n"


class Redactor:
    """Scrubs secrets from every string of a recorded scenario."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._patterns = tuple(re.compile(p) for p in (*DEFAULT_REDACTIONS, *patterns))

    def scrub(self, value: Any, secrets: Iterable[str] = ()) -> Any:
        """``value`` with the patterns and the literal ``secrets`` replaced (a copy)."""
        literal = [s for s in secrets if s]
        if isinstance(value, str):
            for secret in literal:
                value = value.replace(secret, REDACTED)
            for pattern in self._patterns:
                value = pattern.sub(REDACTED, value)
            return value
        if isinstance(value, Mapping):
            return {self.scrub(k, literal): self.scrub(v, literal) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v, literal) for v in value]
        return value


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings as ``|`` blocks and no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if "\n" in data and not data.endswith((" ", "\t")) and "\r" not in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return self.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _Dumper.represent_str)


def dump_yaml(document: Any) -> str:
    """``document`` as stable YAML text: keys in the order given, unicode kept."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


class RecordingBook:
    """The recording files of one target: a folder (a file per scenario) or one file.

    ``fresh`` starts each file over the first time this book writes to it (record
    ``all``: a re-recording replaces the old one); otherwise new scenarios are added to
    what the file already holds (record ``missing``).
    """

    def __init__(
        self, target: Path, *, single_file: bool, fresh: bool, redactor: Redactor | None = None
    ) -> None:
        self.target = target
        self.single_file = single_file
        self.fresh = fresh
        self.redactor = redactor or Redactor()
        # file -> its scenarios, as written (the book is the only writer of its files).
        self._files: dict[Path, list[dict[str, Any]]] = {}

    def file_for(self, name: str) -> Path:
        """The file a scenario called ``name`` goes to."""
        return self.target if self.single_file else self.target / f"{name}.yaml"

    def add(
        self, scenario: Mapping[str, Any], secrets: Iterable[str] = ()
    ) -> tuple[Path, dict[str, Any]]:
        """Scrub and write ``scenario``; the file and the scenario as the file now has it
        (with earlier replies of the same conditions in its ``sequence``)."""
        clean: dict[str, Any] = self.redactor.scrub(scenario, secrets)
        path = self.file_for(str(scenario["name"]))
        scenarios = self._scenarios_of(path)
        for position, old in enumerate(scenarios):
            if old.get("name") == clean["name"]:
                clean = merge(old, clean)
                scenarios[position] = clean
                break
        else:
            scenarios.append(clean)
        self._write(path, scenarios)
        return path, clean

    def _scenarios_of(self, path: Path) -> list[dict[str, Any]]:
        known = self._files.get(path)
        if known is not None:
            return known
        found: list[dict[str, Any]] = []
        if not self.fresh and path.is_file():
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(loaded, Mapping) and "scenarios" in loaded:
                loaded = loaded["scenarios"]
            if isinstance(loaded, Mapping):
                loaded = [loaded]
            found = [dict(s) for s in loaded or () if isinstance(s, Mapping)]
        self._files[path] = found
        return found

    def _write(self, path: Path, scenarios: list[dict[str, Any]]) -> None:
        document: Any = (
            scenarios[0]
            if len(scenarios) == 1 and not self.single_file
            else {"scenarios": scenarios}
        )
        text = _HEADER + dump_yaml(document)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
