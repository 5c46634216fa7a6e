"""Bounded memo tables: results kept by key, forgotten all at once when the table is full.

mockllm remembers what requests repeat (token counts, a piece's BPE tokens, the verdict
on a body's bytes, the encoding of a model name...). Clients may send anything, so each
table has a limit; reaching it empties the table, which costs nothing per lookup (no
order to maintain) and lets the entries that matter come back on their next use.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["keep"]

_K = TypeVar("_K")
_V = TypeVar("_V")


def keep(table: dict[_K, _V], key: _K, value: _V, limit: int) -> _V:
    """Put ``value`` in ``table`` under ``key``, emptying the table first when it holds
    ``limit`` entries; returns ``value``. Lookups read ``table`` directly."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value
