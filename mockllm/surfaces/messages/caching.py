"""Prompt caching, simulated through the state store (so several workers share it).

A ``cache_control`` breakpoint (on a tool, a system block or a message block; the
top-level ``cache_control`` puts one on the last block) caches the prompt up to and
including its block, in Anthropic's order: tools, then system, then messages. A prefix
is known by a hash of its JSON without the ``cache_control`` marks and is kept in the
store's prompt cache (:meth:`StateStore.cache_prompt`, shared with chat's automatic
cache) for its ``ttl`` (``5m`` by default, or ``1h``), again from each use: a prefix
not there is written by this request, one still there is read.

The longest cached prefix is read (``cache_read_input_tokens``); the prompt up to the
last breakpoint beyond it is written (``cache_creation_input_tokens``, split by TTL in
``cache_creation``); ``input_tokens`` is the rest. A prefix shorter than
:data:`MINIMUM_TOKENS` is not cached, silently, as the API does. Prefix sizes are
counted as the whole prompt is (:mod:`.request`'s view, the model's tokenizer), so
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens`` is always what
``count_tokens`` answers for the same body. Counting tokens never writes the cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from ...errors import BadRequestError
from ...state import StateStore
from .reply import Caching

__all__ = [
    "Breakpoint",
    "MAX_BREAKPOINTS",
    "MINIMUM_TOKENS",
    "breakpoints",
    "check_breakpoints",
    "simulate",
]

# The shortest prefix the API caches (Sonnet and Opus 4 models; some models ask more).
MINIMUM_TOKENS = 1024
# Blocks with cache_control a request may carry.
MAX_BREAKPOINTS = 4
_TTL_SECONDS: Mapping[str, float] = MappingProxyType({"5m": 300.0, "1h": 3600.0})


class Breakpoint(NamedTuple):
    """One breakpoint: the body cut after its block, and its TTL."""

    prefix: dict[str, Any]
    ttl: str


def _ttl(mark: Any) -> str | None:
    if not isinstance(mark, Mapping) or mark.get("type") != "ephemeral":
        return None
    return "1h" if mark.get("ttl") == "1h" else "5m"


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _marks(body: Mapping[str, Any]) -> Iterator[tuple[str, int, int, str]]:
    """Each breakpoint as (``tools``/``system``/``messages``, index, block index, ttl)."""
    for i, tool in enumerate(body.get("tools") or ()):
        ttl = _ttl(tool.get("cache_control")) if isinstance(tool, Mapping) else None
        if ttl:
            yield "tools", i, 0, ttl
    system = body.get("system")
    for i, block in enumerate(system if isinstance(system, list) else ()):
        ttl = _ttl(block.get("cache_control")) if isinstance(block, Mapping) else None
        if ttl:
            yield "system", i, 0, ttl
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    for i, message in enumerate(messages):
        for j, block in enumerate(_blocks(message.get("content"))):
            ttl = _ttl(block.get("cache_control")) if isinstance(block, Mapping) else None
            if ttl:
                yield "messages", i, j, ttl
    top = _ttl(body.get("cache_control"))
    if top and messages:
        yield "messages", len(messages) - 1, len(_blocks(messages[-1].get("content"))) - 1, top


def check_breakpoints(body: Mapping[str, Any]) -> None:
    """A 400 for more breakpoints than the API takes."""
    found = sum(1 for _ in _marks(body))
    if found > MAX_BREAKPOINTS:
        raise BadRequestError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {found}."
        )


def _cut(body: Mapping[str, Any], where: str, index: int, block: int) -> dict[str, Any]:
    prefix: dict[str, Any] = {"model": body.get("model")}
    tools = list(body.get("tools") or ())
    prefix["tools"] = tools[: index + 1] if where == "tools" else tools
    if where == "tools":
        return prefix
    system = body.get("system")
    prefix["system"] = (
        system[: index + 1] if where == "system" and isinstance(system, list) else system
    )
    if where == "system":
        return prefix
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    last = dict(messages[index])
    last["content"] = _blocks(last.get("content"))[: block + 1]
    prefix["messages"] = [*messages[:index], last]
    return prefix


def breakpoints(body: Mapping[str, Any]) -> list[Breakpoint]:
    """The request's breakpoints in prompt order."""
    return [Breakpoint(_cut(body, where, i, j), ttl) for where, i, j, ttl in _marks(body)]


def _unmarked(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _unmarked(v) for k, v in node.items() if k != "cache_control"}
    if isinstance(node, list):
        return [_unmarked(item) for item in node]
    return node


def _key(prefix: Mapping[str, Any], ttl: str) -> str:
    digest = hashlib.sha256(orjson.dumps(_unmarked(prefix), option=orjson.OPT_SORT_KEYS))
    return f"messages-cache:{ttl}:{digest.hexdigest()[:40]}"


async def simulate(
    store: StateStore, body: Mapping[str, Any], count: Callable[[Mapping[str, Any]], int]
) -> Caching:
    """Read and write the cache for ``body`` (module docstring); ``count`` gives the
    prompt tokens of a body as the usage counts them."""
    points = [(point, count(point.prefix)) for point in breakpoints(body)]
    points = [(point, size) for point, size in points if size >= MINIMUM_TOKENS]
    if not points:
        return Caching()
    read = 0
    for point, size in points:
        if await store.cache_prompt(_key(point.prefix, point.ttl), _TTL_SECONDS[point.ttl]):
            read = max(read, size)  # still cached (and kept for another TTL)
    last = points[-1][1]
    long_lived = max((size for point, size in points if point.ttl == "1h"), default=0)
    written_1h = max(long_lived - read, 0)
    written_5m = max(last - read - written_1h, 0)
    return Caching(read=read, written_5m=written_5m, written_1h=written_1h)
