"""The default state store: everything in this process's memory.

Each operation takes one lock, so a test thread and the server's loop may call it at
once; no coroutine here ever waits, which keeps the in-process hot path as cheap as
a dict lookup and lets :func:`mockllm.state.run_now` drive any of them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .store import BudgetSpend, RuntimeScenario, Spent, StoredCompletion

if TYPE_CHECKING:
    from ..journal import Exchange

__all__ = ["MAX_CONVERSATIONS", "MemoryStore"]

# Conversation counts remembered; the oldest are forgotten beyond this.
MAX_CONVERSATIONS = 100_000
# Float slack in bucket arithmetic: a client that waits exactly the advertised time
# must get in.
_EPSILON = 1e-9


class MemoryStore:
    """All shared state in one process (see :class:`mockllm.state.StateStore`)."""

    def __init__(
        self,
        journal_size: int = 1000,
        *,
        max_conversations: int = MAX_CONVERSATIONS,
        max_budget_keys: int = 10_000,
        completions_size: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._journal: deque[Exchange] = deque(maxlen=max(1, journal_size))
        self._seq = itertools.count(1)
        # Scenario -> uses without a conversation: never evicted.
        self._uses: dict[str, int] = {}
        # (scenario, conversation) -> uses, oldest first, bounded.
        self._conversations: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max_conversations = max_conversations
        # Budget key -> instant each bucket is full again, in budget order.
        self._full_at: dict[str, list[float]] = {}
        self._max_budget_keys = max_budget_keys
        self._runtime: dict[str, RuntimeScenario] = {}
        self._completions: OrderedDict[str, StoredCompletion] = OrderedDict()
        self._completions_size = completions_size or max(1, journal_size)
        # Prompt cache key -> when it expires (monotonic), bounded like the budgets.
        self._prompts: dict[str, float] = {}
        # What API surfaces keep (stored responses...), by (kind, id), oldest first.
        self._objects: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    @property
    def description(self) -> str:
        """``memory``: the state lives in this process."""
        return "memory"

    @property
    def journal_size(self) -> int:
        """How many exchanges the journal keeps."""
        return self._journal.maxlen or 0

    # ------------------------------------------------------------ use counters

    async def take(self, scenario: str, conversation: str | None, limit: int | None) -> int | None:
        """Count one use unless ``limit`` is reached; the count before it, or None."""
        with self._lock:
            if conversation is None:
                used = self._uses.get(scenario, 0)
                if limit is not None and used >= limit:
                    return None
                self._uses[scenario] = used + 1
                return used
            key = (scenario, conversation)
            table = self._conversations
            used = table.get(key, 0)
            if limit is not None and used >= limit:
                return None
            if key not in table and len(table) >= self._max_conversations:
                table.popitem(last=False)
            table[key] = used + 1
            return used

    def count(self, scenario: str) -> None:
        """Count one use without a limit."""
        with self._lock:
            self._uses[scenario] = self._uses.get(scenario, 0) + 1

    async def uses(self) -> Mapping[str, int]:
        """Uses per scenario, summed over conversations."""
        with self._lock:
            totals = dict(self._uses)
            for (name, _), count in self._conversations.items():
                totals[name] = totals.get(name, 0) + count
            return totals

    async def forget_uses(self, scenarios: Sequence[str]) -> None:
        """Drop the counts of these scenarios."""
        names = set(scenarios)
        with self._lock:
            for name in names:
                self._uses.pop(name, None)
            if self._conversations:
                for key in [k for k in self._conversations if k[0] in names]:
                    del self._conversations[key]

    # ----------------------------------------------------------------- budgets

    async def spend(self, key: str, budgets: Sequence[BudgetSpend], now: float) -> Spent:
        """GCRA over each budget: all costs fit and are spent, or nothing is."""
        with self._lock:
            full_at = self._full_at.get(key)
            if full_at is None:
                full_at = [now] * len(budgets)
            used = tuple(
                max(0.0, at - now) / b.interval for b, at in zip(budgets, full_at, strict=True)
            )
            if any(u + b.cost - b.limit > _EPSILON for u, b in zip(used, budgets, strict=True)):
                return Spent(False, used)
            self._full_at[key] = [
                max(at, now) + b.cost * b.interval for b, at in zip(budgets, full_at, strict=True)
            ]
            if len(self._full_at) > self._max_budget_keys:
                # A key whose buckets are all full again is the same as an unseen key,
                # so dropping it loses nothing and bounds memory under many keys.
                for idle in [k for k, ats in self._full_at.items() if max(ats) <= now]:
                    del self._full_at[idle]
            return Spent(True, used)

    # ----------------------------------------------------------------- journal

    def next_seq(self) -> int:
        """The next exchange number of this process."""
        return next(self._seq)

    def record(self, exchange: Exchange) -> None:
        """Keep one exchange; the oldest goes beyond the journal's size."""
        with self._lock:
            self._journal.append(exchange)

    async def exchanges(self) -> list[Exchange]:
        """Every exchange kept, oldest first (a copy)."""
        with self._lock:
            return list(self._journal)

    async def journal_count(self) -> int:
        """How many exchanges are kept."""
        return len(self._journal)

    async def clear_journal(self) -> int:
        """Forget every exchange; how many there were."""
        with self._lock:
            count = len(self._journal)
            self._journal.clear()
            return count

    # ------------------------------------------------------ run-time scenarios

    async def runtime_scenarios(self) -> list[RuntimeScenario]:
        """The added scenarios, oldest first."""
        with self._lock:
            return list(self._runtime.values())

    async def add_scenarios(self, scenarios: Sequence[RuntimeScenario]) -> None:
        """Add (or replace, moving to the end) each scenario."""
        with self._lock:
            for scenario in scenarios:
                self._runtime.pop(scenario.name, None)
                self._runtime[scenario.name] = scenario

    async def remove_scenario(self, name: str) -> bool:
        """Remove one added scenario."""
        with self._lock:
            return self._runtime.pop(name, None) is not None

    async def clear_scenarios(self) -> None:
        """Remove every added scenario."""
        with self._lock:
            self._runtime.clear()

    def follow_journal(self, callback: Callable[[str, Any], None] | None) -> None:
        """Nothing to follow: only this process writes this journal."""
        return None

    def watch_scenarios(self, callback: Callable[[], None]) -> None:
        """No other process shares this store: the callback is never called."""

    # ------------------------------------------------------- stored completions

    async def store_completion(self, completion: StoredCompletion) -> None:
        """Keep one completion, dropping the oldest beyond the bound."""
        with self._lock:
            self._completions[completion.id] = completion
            while len(self._completions) > self._completions_size:
                self._completions.popitem(last=False)

    async def completions(self) -> list[StoredCompletion]:
        """Every stored completion, oldest first."""
        with self._lock:
            return list(self._completions.values())

    async def update_completion(
        self, id: str, metadata: Mapping[str, str]
    ) -> StoredCompletion | None:
        """Replace one completion's metadata."""
        with self._lock:
            found = self._completions.get(id)
            if found is None:
                return None
            updated = replace(found, metadata=dict(metadata))
            self._completions[id] = updated
            return updated

    async def delete_completion(self, id: str) -> bool:
        """Forget one stored completion."""
        with self._lock:
            return self._completions.pop(id, None) is not None

    # ------------------------------------------------------------ prompt cache

    async def cache_prompt(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s`` seconds; True when it was remembered already."""
        now = time.monotonic()
        with self._lock:
            hit = self._prompts.pop(key, 0.0) > now
            if len(self._prompts) >= self._max_budget_keys:
                self._prompts.clear()  # bounded: a full cache starts over
            self._prompts[key] = now + ttl_s
            return hit

    # ------------------------------------------------------------ API objects

    async def put_object(self, kind: str, id: str, data: Mapping[str, Any]) -> None:
        """Keep one object, dropping the oldest beyond the bound."""
        with self._lock:
            self._objects.pop((kind, id), None)
            self._objects[(kind, id)] = dict(data)
            while len(self._objects) > self._completions_size:
                self._objects.popitem(last=False)

    async def get_object(self, kind: str, id: str) -> dict[str, Any] | None:
        """The kept object, or None."""
        with self._lock:
            return self._objects.get((kind, id))

    async def delete_object(self, kind: str, id: str) -> bool:
        """Forget one kept object."""
        with self._lock:
            return self._objects.pop((kind, id), None) is not None

    # --------------------------------------------------------------- lifecycle

    async def reset(self) -> int:
        """Counts, budgets, journal and prompt cache back to empty; added scenarios stay."""
        with self._lock:
            self._prompts.clear()
            self._uses.clear()
            self._conversations.clear()
            self._full_at.clear()
            count = len(self._journal)
            self._journal.clear()
            return count

    async def health(self) -> Mapping[str, Any]:
        """Always healthy: the state is in this process."""
        return {"store": "memory", "ok": True}

    async def close(self) -> None:
        """Nothing to release."""
