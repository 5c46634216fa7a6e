"""The one interface to everything mutable that outlives a request.

Scenario use counts (``times``, sequence positions, per-conversation counts), rate
budgets, the journal, scenarios added at run time and stored completions all live
behind :class:`StateStore`. The scenario set, the rate limiter, the control API and
the pytest handle use nothing else, so a store shared by several processes (a
networked one) changes where the state lives, not what the server does.

Every operation is atomic per call and small enough for a networked store to serve
with one round trip. The operations a request needs on its critical path are
coroutines; ``record`` is a plain call, since a networked store may batch journal
writes off the critical path. ``next_seq`` is local to the process.

The in-memory store (:mod:`mockllm.state.memory`) is the default; its coroutines
never wait, so a caller on the server's own loop may drive one to completion
without an event loop turn (:func:`mockllm.state.run_now`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from ..journal import Exchange

__all__ = [
    "BudgetSpend",
    "RuntimeScenario",
    "Spent",
    "StateStore",
    "StoredCompletion",
    "redacted_url",
]


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """One budget's part of a spend: a bucket of ``limit`` units refilling one unit
    every ``interval`` seconds, and what this request costs it."""

    limit: int
    interval: float
    cost: int


@dataclass(frozen=True, slots=True)
class Spent:
    """The outcome of :meth:`StateStore.spend`.

    ``used`` holds each budget's units in use before this request (fractions: buckets
    refill continuously); ``allowed`` is whether every cost fitted, in which case all
    were spent, else nothing was.
    """

    allowed: bool
    used: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RuntimeScenario:
    """A scenario added at run time, as data every process can compile: its name, its
    definition (canonical JSON of the scenario document) and where it came from."""

    name: str
    definition: str
    source: str


@dataclass(frozen=True, slots=True)
class StoredCompletion:
    """A completion kept because its request said ``store: true``."""

    id: str
    created: int
    model: str
    metadata: Mapping[str, str]
    request_messages: tuple[Any, ...]
    response: Mapping[str, Any]


class StateStore(Protocol):
    """Shared state of one mockllm server, however many processes serve it."""

    @property
    def description(self) -> str:
        """Where the state lives, for health output and errors (``memory``, a URL)."""
        ...

    @property
    def journal_size(self) -> int:
        """How many exchanges the journal keeps before dropping the oldest."""
        ...

    # ------------------------------------------------------------ use counters

    async def take(self, scenario: str, conversation: str | None, limit: int | None) -> int | None:
        """Count one use of ``scenario`` (in ``conversation``, when given) unless
        ``limit`` uses are already counted. Returns the count before this use, or
        None when used up (nothing counted). Counts without a conversation are never
        forgotten; per-conversation counts may be, oldest first, beyond a bound."""
        ...

    def count(self, scenario: str) -> None:
        """Count one use of ``scenario`` that has no limit and whose count nobody reads
        now (no ``times``, sequence or conversation, replies without ``call``): nothing
        waits for it, so a networked store may send it with the next journal batch."""
        ...

    async def uses(self) -> Mapping[str, int]:
        """Uses so far per scenario name, summed over conversations."""
        ...

    async def forget_uses(self, scenarios: Sequence[str]) -> None:
        """Drop every count of these scenarios (a changed or removed definition)."""
        ...

    # ----------------------------------------------------------------- budgets

    async def spend(self, key: str, budgets: Sequence[BudgetSpend], now: float) -> Spent:
        """Spend every budget's cost for ``key`` at ``now`` (seconds), all or nothing."""
        ...

    # ----------------------------------------------------------------- journal

    def next_seq(self) -> int:
        """A number for the next exchange of this process, increasing."""
        ...

    def record(self, exchange: Exchange) -> None:
        """Keep one exchange (the oldest goes beyond ``journal_size``)."""
        ...

    async def exchanges(self) -> list[Exchange]:
        """Every exchange kept, oldest first."""
        ...

    async def journal_count(self) -> int:
        """How many exchanges are kept."""
        ...

    async def clear_journal(self) -> int:
        """Forget every exchange; returns how many there were."""
        ...

    # ------------------------------------------------------ run-time scenarios

    async def runtime_scenarios(self) -> list[RuntimeScenario]:
        """The scenarios added at run time, oldest first."""
        ...

    async def add_scenarios(self, scenarios: Sequence[RuntimeScenario]) -> None:
        """Add scenarios after the others; one of the same name is replaced (and moves
        to the end)."""
        ...

    async def remove_scenario(self, name: str) -> bool:
        """Remove one added scenario; False when none is called ``name``."""
        ...

    async def clear_scenarios(self) -> None:
        """Remove every added scenario."""
        ...

    def watch_scenarios(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the server's loop) when another process changed the
        added scenarios or reset the state."""
        ...

    def follow_journal(self, callback: Callable[[str, Any], None] | None) -> Awaitable[None] | None:
        """Start (``callback``) or stop (None) hearing the journal of every process
        sharing this store, for the browser view's live feed: ``callback("exchange",
        exchange)`` for each exchange as it is written, in the journal's order,
        ``callback("cleared", None)`` when any process empties it, and
        ``callback("lagged", None)`` when events may have been missed (a lost
        connection). Returns an awaitable that completes once following, or None for
        a store no other process shares (this process's own events are all there are)."""
        ...

    # ------------------------------------------------------- stored completions

    async def store_completion(self, completion: StoredCompletion) -> None:
        """Keep one completion (bounded like the journal, oldest dropped first)."""
        ...

    async def completions(self) -> list[StoredCompletion]:
        """Every stored completion, oldest first."""
        ...

    async def update_completion(
        self, id: str, metadata: Mapping[str, str]
    ) -> StoredCompletion | None:
        """Replace a stored completion's metadata; None when there is no such id."""
        ...

    async def delete_completion(self, id: str) -> bool:
        """Forget one stored completion; False when there is no such id."""
        ...

    # ------------------------------------------------------------ prompt cache

    async def cache_prompt(self, key: str, ttl_s: float) -> bool:
        """Remember the prompt ``key`` for ``ttl_s`` seconds (again from now); True when
        it was remembered already: a prompt cache hit (``cached_tokens``)."""
        ...

    # ------------------------------------------------------------ API objects

    async def put_object(self, kind: str, id: str, data: Mapping[str, Any]) -> None:
        """Keep one object an API surface stores (``kind`` ``response``: a stored
        response, its input and output items), replacing one of the same id; bounded
        like stored completions, oldest dropped first."""
        ...

    async def get_object(self, kind: str, id: str) -> dict[str, Any] | None:
        """The object kept under ``kind`` and ``id``; None when there is none."""
        ...

    async def delete_object(self, kind: str, id: str) -> bool:
        """Forget one kept object; False when there was none."""
        ...

    # --------------------------------------------------------------- lifecycle

    async def reset(self) -> int:
        """Every use count and budget back to zero, the journal and the prompt cache
        emptied (added scenarios stay). Returns how many exchanges the journal dropped."""
        ...

    async def health(self) -> Mapping[str, Any]:
        """``{"store": description, "ok": bool, ...}``; never raises."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...


def redacted_url(url: str) -> str:
    """``url`` without its password, for health output, errors and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
