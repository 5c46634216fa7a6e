"""The live feed of the journal: what the browser view (``/__mockllm/ui``) listens to.

``middleware.record`` hands every new exchange to the app's :class:`LiveFeed`, and a
journal cleared through the server state is announced on it. Each listener (one
``GET /__mockllm/requests/stream`` connection) has its own bounded backlog, so:

- nobody listening costs the request path one attribute check (``feed.listening``);
- a slow listener never slows or blocks a request: ``publish`` only appends to a
  deque, and a listener whose backlog is full is cut off (told it ``lagged``, so the
  page reloads the journal and listens again) rather than making anyone wait;
- a listener that went away is dropped when its connection ends (``close``).

With a store several processes share (Redis), the feed follows the store instead
(``StateStore.follow_journal``): every process's exchanges, in the journal's order, and
every process's clearing of it. The request path then does nothing for the feed (the
exchange reaches the store with its journal batch anyway); the store follows only while
someone listens here, and its writers publish only while someone listens anywhere.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["BACKLOG", "Follow", "Listener", "LiveFeed"]

# ``StateStore.follow_journal``: start (a callback) or stop (None) hearing the shared
# journal; None back when the store is this process's alone, else an awaitable that
# completes once the store is following.
Follow = Callable[[Callable[[str, Any], None] | None], Awaitable[None] | None]

# How many events a listener may have unread before it is cut off: a full journal's
# worth, several seconds of a 100 requests/s burst for a browser that has stalled.
BACKLOG = 1000


class Listener:
    """One subscriber's backlog: events in order, a wake-up, and why it ended."""

    __slots__ = ("_events", "_limit", "_wake", "ended")

    def __init__(self, limit: int) -> None:
        self._events: deque[tuple[str, Any]] = deque()
        self._limit = limit
        self._wake = asyncio.Event()
        # None while listening; "lagged" (backlog overflowed) or "closed" (feed closed).
        self.ended: str | None = None

    def push(self, kind: str, payload: Any) -> bool:
        """Queue one event; False (and the listener ends as ``lagged``) when full."""
        if len(self._events) >= self._limit:
            self._events.clear()
            self.end("lagged")
            return False
        self._events.append((kind, payload))
        self._wake.set()
        return True

    def end(self, why: str) -> None:
        """Stop listening; the reader's next ``take`` returns what is left, then nothing."""
        if self.ended is None:
            self.ended = why
        self._wake.set()

    async def take(self, timeout: float) -> list[tuple[str, Any]]:
        """Every event queued so far, waiting up to ``timeout`` seconds for the first
        (an empty list: nothing came in time, or the listener has ended)."""
        if not self._events and self.ended is None:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
        self._wake.clear()
        events = list(self._events)
        self._events.clear()
        return events


class LiveFeed:
    """Fans journal events out to listeners; costs nothing while nobody listens.

    ``follow`` is the store's ``follow_journal``: given, and the store shared, events
    come from the store rather than from :meth:`publish`.
    """

    __slots__ = ("_follow", "_following", "_listeners", "_shared", "listening")

    def __init__(self, follow: Follow | None = None) -> None:
        self._listeners: set[Listener] = set()
        self._follow = follow
        # Whether the store hands us every process's events (None: not known yet, found
        # out at the first subscription).
        self._shared: bool | None = None if follow is not None else False
        # While following a shared store: completes once the store follows.
        self._following: Awaitable[None] | None = None
        # True while the request path must publish (someone listens, and the events do
        # not come from a shared store): the request path's only check.
        self.listening = False

    def subscribe(self, limit: int = BACKLOG) -> Listener:
        """A new listener, receiving every event published from now on (for a shared
        store, from when :meth:`ready` returns)."""
        listener = Listener(limit)
        self._listeners.add(listener)
        if self._follow is not None and self._shared is not False and self._following is None:
            self._following = self._follow(self._heard)
            self._shared = self._following is not None
        self.listening = not self._shared
        return listener

    async def ready(self) -> None:
        """Return once every event from now on reaches the listeners (a shared store
        listens by then), so a snapshot read next misses nothing."""
        if self._following is not None:
            await self._following

    def unsubscribe(self, listener: Listener) -> None:
        """Drop ``listener`` (its connection ended); safe to call twice."""
        self._listeners.discard(listener)
        if self._listeners:
            return
        self.listening = False
        if self._shared and self._following is not None and self._follow is not None:
            self._following = None
            self._follow(None)  # nobody listens here: stop following the store

    def publish(self, kind: str, payload: Any = None) -> None:
        """Hand one event of this process to every listener (a shared store's feed
        takes the store's events instead: this process's come back through it)."""
        if not self._shared:
            self._deliver(kind, payload)

    def _heard(self, kind: str, payload: Any) -> None:
        """An event from the shared store (``lagged``: the store lost events)."""
        if kind == "lagged":
            for listener in list(self._listeners):
                listener.end("lagged")
                self.unsubscribe(listener)
            return
        self._deliver(kind, payload)

    def _deliver(self, kind: str, payload: Any) -> None:
        """Hand one event to every listener; one that cannot keep up is dropped."""
        dropped = [listener for listener in self._listeners if not listener.push(kind, payload)]
        for listener in dropped:
            self.unsubscribe(listener)

    def close(self) -> None:
        """End every listener (the app is stopping), so their connections finish."""
        for listener in list(self._listeners):
            listener.end("closed")
            self.unsubscribe(listener)
