"""The state layer: everything mutable that outlives one request, behind one interface.

:class:`StateStore` is the interface; :class:`MemoryStore` the default, in-process
implementation; :func:`open_store` picks the store a ``--state`` URL names (a Redis
one, :mod:`mockllm.state.redis_store`, is imported only then); :func:`prepare_store`
checks at start that it answers, and empties it when asked. :func:`run_now`
drives a coroutine that never waits (every ``MemoryStore`` operation) to its result
without an event loop.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from ..errors import ConfigError
from .memory import MemoryStore
from .store import (
    BudgetSpend,
    RuntimeScenario,
    Spent,
    StateStore,
    StoredCompletion,
    redacted_url,
)

__all__ = [
    "BudgetSpend",
    "MemoryStore",
    "RuntimeScenario",
    "Spent",
    "StateStore",
    "StoredCompletion",
    "open_store",
    "prepare_store",
    "redacted_url",
    "run_now",
    "state_url_problem",
]

# URL schemes of the Redis store (TCP, TLS, a Unix socket).
_REDIS_SCHEMES = ("redis", "rediss", "unix")

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


def state_url_problem(url: str) -> str | None:
    """Why ``url`` names no state store mockllm knows; None when it does."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in _REDIS_SCHEMES and rest:
        return None
    return (
        f"{url!r} is not a state store URL (use redis://HOST:PORT/DB, "
        "rediss://... for TLS, or unix:///path/to/redis.sock)"
    )


def open_store(
    url: str | None, *, prefix: str = "mockllm:", journal_size: int = 1000
) -> StateStore:
    """The store ``url`` names: None is this process's memory, ``redis://HOST:PORT/DB``
    a Redis shared by every worker, with keys starting with ``prefix``."""
    if not url:
        return MemoryStore(journal_size)
    problem = state_url_problem(url)
    if problem is not None:
        raise ConfigError(problem)
    from .redis_store import RedisStore

    return RedisStore(url, prefix=prefix, journal_size=journal_size)


async def prepare_store(url: str, *, prefix: str = "mockllm:", reset: bool = False) -> None:
    """Before serving with a shared store: make sure it answers (a ConfigError naming it
    when it does not, said at start instead of a 503 per request), and with ``reset``
    forget what an earlier run left there (use counts, budgets, journal, added scenarios).
    Without it, that state is kept: what a fleet restarting one worker at a time needs."""
    store = open_store(url, prefix=prefix)
    try:
        health = await store.health()
        if not health.get("ok"):
            raise ConfigError(
                f"the state store {redacted_url(url)} does not answer: is "
                "Redis running there? Start it, or serve without --state."
            )
        if reset:
            await store.reset()
            await store.clear_scenarios()
    finally:
        await store.close()
