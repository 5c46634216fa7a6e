"""The state layer: everything mutable that outlives one request, behind one interface.

:class:`StateStore` is the interface; :class:`MemoryStore` the default, in-process
implementation. :func:`run_now` drives a coroutine that never waits (every
``MemoryStore`` operation) to its result without an event loop.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from .memory import MemoryStore
from .store import BudgetSpend, RuntimeScenario, Spent, StateStore, StoredCompletion

__all__ = [
    "BudgetSpend",
    "MemoryStore",
    "RuntimeScenario",
    "Spent",
    "StateStore",
    "StoredCompletion",
    "run_now",
]

T = TypeVar("T")


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that completes without waiting.

    Raises RuntimeError (and closes the coroutine) when it would wait: the caller
    must then await it on the server's loop instead.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("this state operation waits on I/O; await it on the server's loop")
