"""Scenario files for the benchmark: many distinct scenarios that the request does not match.

Scenario ``i`` asks for its own model (``bench-model-<i>``) and a last user message
matching its own regex, so the scenario index must rule out nearly all of them
without running a condition; the benchmark request matches none and gets the
default reply, which keeps the reply work equal to the no-scenario case and
leaves only the cost of matching as the difference.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["write_scenarios"]

# Scenarios per YAML file: a realistic project splits its scenarios over files.
_PER_FILE = 500


def write_scenarios(folder: Path, count: int) -> list[Path]:
    """Write ``count`` scenarios as YAML files under ``folder``; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for start in range(0, count, _PER_FILE):
        batch = [_scenario(i) for i in range(start, min(count, start + _PER_FILE))]
        path = folder / f"bench-{start // _PER_FILE:04d}.yaml"
        path.write_text(yaml.safe_dump({"scenarios": batch}, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files


def _scenario(i: int) -> dict[str, object]:
    return {
        "name": f"bench-{i}",
        "when": {
            "model": f"bench-model-{i}",
            "last_user_message": {"regex": rf"^ticket {i}-(?P<n>\d+)\b"},
        },
        "reply": {"content": f"Ticket {i}: resolved."},
    }
