"""The live feed of the journal: what the browser view (``/__mockllm/ui``) listens to.

``middleware.record`` hands every new exchange to the app's :class:`LiveFeed`, and a
journal cleared through the server state is announced on it. Each listener (one
``GET /__mockllm/requests/stream`` connection) has its own bounded backlog, so:

- nobody listening costs the request path one attribute check (``feed.listening``);
- a slow listener never slows or blocks a request: ``publish`` only appends to a
  deque, and a listener whose backlog is full is cut off (told it ``lagged``, so the
  page reloads the journal and listens again) rather than making anyone wait;
- a listener that went away is dropped when its connection ends (``close``).

The feed is in-process: with a store shared by several processes, each process's feed
carries the exchanges that process answered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["BACKLOG", "Listener", "LiveFeed"]

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
    """Fans journal events out to listeners; costs nothing while nobody listens."""

    __slots__ = ("_listeners", "listening")

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()
        # True while at least one listener is subscribed: the request path's only check.
        self.listening = False

    def subscribe(self, limit: int = BACKLOG) -> Listener:
        """A new listener, receiving every event published from now on."""
        listener = Listener(limit)
        self._listeners.add(listener)
        self.listening = True
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        """Drop ``listener`` (its connection ended); safe to call twice."""
        self._listeners.discard(listener)
        self.listening = bool(self._listeners)

    def publish(self, kind: str, payload: Any = None) -> None:
        """Hand one event to every listener; one that cannot keep up is dropped."""
        dropped = [listener for listener in self._listeners
                   if not listener.push(kind, payload)]
        for listener in dropped:
            self.unsubscribe(listener)

    def close(self) -> None:
        """End every listener (the app is stopping), so their connections finish."""
        for listener in list(self._listeners):
            listener.end("closed")
            self.unsubscribe(listener)
