"""How names are spelled between the ServiceStack DTOs and the JSON on the wire.

One converter each way, used by the schema generator (build time), the validator's
error field names and scripted errors (run time), and the schema file suffix shared
by the generator and the loader.
"""

from __future__ import annotations

import re

__all__ = ["SUFFIX", "to_pascal", "to_snake"]

# Every generated schema file is named ``<DTO name>.schema.json``.
SUFFIX = ".schema.json"

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def to_snake(name: str) -> str:
    """``MaxCompletionTokens`` -> ``max_completion_tokens``; ``URLCitation`` ->
    ``url_citation`` (an acronym is one word)."""
    return _WORD_BREAK.sub("_", name).lower()


def to_pascal(name: str) -> str:
    """``tool_choice`` -> ``ToolChoice``; ``responseStatus`` -> ``ResponseStatus``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
