"""The shared state store: everything in one Redis, for several worker processes.

``RedisStore`` implements :class:`mockllm.state.StateStore` with ``redis.asyncio``.
It is imported only when ``--state redis://...`` is given, so the default server
never loads the Redis client.

How each part is kept (every key starts with the configured prefix, ``mockllm:``):

- use counts: one Lua script per ``take`` (check the limit, count, evict the oldest
  conversation beyond the bound): one round trip, exactly once under any concurrency.
  Uses that need no answer (:meth:`RedisStore.count`) travel with the journal writes.
- budgets: one Lua script per ``spend`` running the GCRA on Redis's own clock
  (``TIME``), so workers on different machines agree; the key expires once the
  buckets are full again, so idle keys cost nothing.
- the journal: a list trimmed to the journal size. ``record`` only queues the
  exchange; a task on the server's loop writes the queue in one pipelined round trip,
  off the request's critical path. Reads write this process's queue first. The same
  script publishes the batch on the live channel, but only while some process
  follows it (a browser view is open somewhere): otherwise it costs one
  ``PUBSUB NUMSUB`` inside the script and nothing is sent.
- scenarios added at run time: a hash of definitions ordered by a sorted set; every
  change is published on one channel, and each process listens and refreshes.
- stored completions: a hash ordered by a sorted set, trimmed to the bound.

A Redis that cannot be reached is a :class:`mockllm.errors.StateUnavailableError`
(503, naming the store) after short socket timeouts, never a hang; the client
reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import StateUnavailableError
from .memory import MAX_CONVERSATIONS
from .store import BudgetSpend, RuntimeScenario, Spent, StoredCompletion, redacted_url

if TYPE_CHECKING:
    from ..journal import Exchange

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

log = logging.getLogger("mockllm")

DEFAULT_PREFIX = "mockllm:"
# Seconds to connect (a dead Redis is a quick 503) and to wait for an answer (a Redis
# that accepts but does not answer, or a server starved of CPU, is a 503 after this).
_CONNECT_TIMEOUT = 1.0
_SOCKET_TIMEOUT = 3.0
# Seconds a read waits for each other process to write its queued journal entries.
_SETTLE_TIMEOUT = 0.5
# The change message that asks every process to write its queue now (then a token).
_FLUSH = "flush:"
# The live channel's message when a process empties the journal.
_CLEARED = "cleared"
# Seconds between attempts to listen again after the connection was lost.
_RELISTEN_DELAY = 0.2
# Errors that mean "Redis cannot be reached right now" (a restart, a network problem,
# a Redis still loading its data).
_UNREACHABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)

# KEYS: uses, the scenario's conversation hash, conversation names, conversation order.
# ARGV: scenario, "1" with a conversation, conversation, limit ("" none), bound,
#       prefix of conversation hashes.
_TAKE = """
local limit = tonumber(ARGV[4])
if ARGV[2] ~= '1' then
  local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or 0)
  if limit and used >= limit then return -1 end
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  return used
end
local raw = redis.call('HGET', KEYS[2], ARGV[3])
local used = tonumber(raw or 0)
if limit and used >= limit then return -1 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if not raw then
  redis.call('SADD', KEYS[3], ARGV[1])
  if redis.call('RPUSH', KEYS[4], ARGV[1] .. '\\0' .. ARGV[3]) > tonumber(ARGV[5]) then
    local old = redis.call('LPOP', KEYS[4])
    local cut = string.find(old, '\\0', 1, true)
    redis.call('HDEL', ARGV[6] .. string.sub(old, 1, cut - 1), string.sub(old, cut + 1))
  end
end
return used
"""

# KEYS: uses, conversation names. ARGV: prefix of conversation hashes.
# Returns name, count pairs (a name may come twice: summed by the caller).
_USES = """
local out = redis.call('HGETALL', KEYS[1])
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local total = 0
  for _, value in ipairs(redis.call('HVALS', ARGV[1] .. name)) do
    total = total + tonumber(value)
  end
  out[#out + 1] = name
  out[#out + 1] = tostring(total)
end
return out
"""

# KEYS: the budget key. ARGV: now ("" = Redis's clock), then limit, interval, cost
# per budget. Returns 1 or 0 (allowed), then each budget's units in use, as text.
_SPEND = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local n = (#ARGV - 1) / 3
local full = {}
local stored = redis.call('GET', KEYS[1])
if stored then
  for value in string.gmatch(stored, '[^ ]+') do full[#full + 1] = tonumber(value) end
end
if #full ~= n then
  full = {}
  for i = 1, n do full[i] = now end
end
local out = {1}
for i = 1, n do
  local base = 2 + (i - 1) * 3
  local used = math.max(0, full[i] - now) / tonumber(ARGV[base + 1])
  out[i + 1] = string.format('%.17g', used)
  if used + tonumber(ARGV[base + 2]) - tonumber(ARGV[base]) > 1e-9 then out[1] = 0 end
end
if out[1] == 1 then
  local last = now
  local kept = {}
  for i = 1, n do
    local base = 2 + (i - 1) * 3
    local at = math.max(full[i], now) + tonumber(ARGV[base + 2]) * tonumber(ARGV[base + 1])
    if at > last then last = at end
    kept[i] = string.format('%.17g', at)
  end
  redis.call('SET', KEYS[1], table.concat(kept, ' '), 'PX',
             math.ceil((last - now) * 1000) + 1000)
end
return out
"""

# KEYS: journal, uses, the live channel (a channel, not a key). ARGV: journal size,
# the number of exchanges n, n exchanges (JSON), then scenario, count pairs of
# uncounted uses. The batch goes to the live channel as one JSON list, only when a
# process follows it.
_APPEND = """
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('RPUSH', KEYS[1], ARGV[2 + i]) end
if n > 0 then
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
  if redis.call('PUBSUB', 'NUMSUB', KEYS[3])[2] > 0 then
    redis.call('PUBLISH', KEYS[3], '[' .. table.concat(ARGV, ',', 3, 2 + n) .. ']')
  end
end
for i = 3 + n, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
"""

# KEYS: definitions, order, counter. ARGV: channel, origin, then name, payload pairs.
_ADD_SCENARIOS = """
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[i])
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
"""

# KEYS: definitions, order. ARGV: channel, origin, name.
_REMOVE_SCENARIO = """
if redis.call('HDEL', KEYS[1], ARGV[3]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"""

# KEYS: data, metadata, order, counter. ARGV: id, data, metadata, bound.
_STORE_COMPLETION = """
redis.call('ZADD', KEYS[3], 'NX', redis.call('INCR', KEYS[4]), ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
while redis.call('ZCARD', KEYS[3]) > tonumber(ARGV[4]) do
  local oldest = redis.call('ZPOPMIN', KEYS[3])
  redis.call('HDEL', KEYS[1], oldest[1])
  redis.call('HDEL', KEYS[2], oldest[1])
end
"""

# KEYS: objects, order, counter. ARGV: id, data, bound.
_PUT_OBJECT = """
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[3]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  redis.call('HDEL', KEYS[1], oldest[1])
end
"""

# KEYS: data, metadata. ARGV: id, metadata. Returns the data, or nil for no such id.
_UPDATE_COMPLETION = """
local data = redis.call('HGET', KEYS[1], ARGV[1])
if not data then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return data
"""

# KEYS: uses, conversation names, conversation order, journal.
# ARGV: prefix of conversation hashes, pattern of budget keys, channel, origin,
# pattern of prompt-cache keys, the live channel.
_RESET = """
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', ARGV[1] .. name)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local dropped = redis.call('LLEN', KEYS[4])
redis.call('DEL', KEYS[4])
for _, pattern in ipairs({ARGV[2], ARGV[5]}) do
  local cursor = '0'
  repeat
    local found = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = found[1]
    for _, key in ipairs(found[2]) do redis.call('DEL', key) end
  until cursor == '0'
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[6], 'cleared')
return dropped
"""


# One queued script call: its source, keys then arguments, how many keys, its result.
_Call = tuple[str, list[Any], int, "asyncio.Future[Any]"]


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot serve now (down, restarting, still loading)."""
    if isinstance(exc, _UNREACHABLE):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(
        ("LOADING", "MASTERDOWN", "READONLY")
    )


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _completion_json(completion: StoredCompletion) -> bytes:
    return orjson.dumps(
        {
            "id": completion.id,
            "created": completion.created,
            "model": completion.model,
            "request_messages": list(completion.request_messages),
            "response": completion.response,
        }
    )


def _completion(data: bytes, metadata: bytes | None) -> StoredCompletion:
    parsed = orjson.loads(data)
    return StoredCompletion(
        id=parsed["id"],
        created=parsed["created"],
        model=parsed["model"],
        metadata=orjson.loads(metadata) if metadata else {},
        request_messages=tuple(parsed["request_messages"]),
        response=parsed["response"],
    )


class RedisStore:
    """All shared state in one Redis (see :class:`mockllm.state.StateStore`).

    ``url`` is ``redis://[:password@]host:port/db`` (``rediss://`` for TLS);
    ``prefix`` starts every key, so several servers can share one Redis.
    ``server_clock`` makes budgets use Redis's ``TIME`` (the default: workers on
    different machines agree); False uses the ``now`` callers pass, for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        journal_size: int = 1000,
        max_conversations: int = MAX_CONVERSATIONS,
        completions_size: int | None = None,
        server_clock: bool = True,
    ) -> None:
        self._url = url
        self._description = redacted_url(url)
        self._prefix = prefix
        self._journal_size = max(1, journal_size)
        self._max_conversations = max_conversations
        self._completions_size = completions_size or self._journal_size
        self._server_clock = server_clock
        # Identifies this process's own change messages, which it need not follow.
        self._origin = f"{os.getpid()}-{os.urandom(6).hex()}"
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Scripts asked for in this loop turn, sent together (see _run).
        self._calls: list[_Call] = []
        # Journal writes and uncounted uses waiting for the next flush (any thread).
        self._lock = threading.Lock()
        self._pending: list[Exchange] = []
        self._pending_uses: dict[str, int] = {}
        self._flush_scheduled = False
        self._flushing: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchers: list[Callable[[], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._seq = 0
        p = prefix
        self._uses_key = p + "uses"
        self._conv_prefix = p + "conv:"
        self._conv_names = p + "conv-names"
        self._conv_order = p + "conv-order"
        self._budget_prefix = p + "budget:"
        self._prompt_prefix = p + "prompt:"
        self._journal_key = p + "journal"
        self._scen_defs = p + "scenarios"
        self._scen_order = p + "scenarios:order"
        self._scen_counter = p + "scenarios:counter"
        self._comp_data = p + "completions"
        # What API surfaces keep (stored responses...): a hash per kind, ordered by a
        # sorted set of insertion counts so the oldest beyond the bound can go.
        self._objects_prefix = p + "objects:"
        self._comp_meta = p + "completions:metadata"
        self._comp_order = p + "completions:order"
        self._comp_counter = p + "completions:counter"
        self._channel = p + "changes"
        self._live_channel = p + "journal:live"

    @property
    def description(self) -> str:
        """The Redis URL (without a password)."""
        return self._description

    @property
    def prefix(self) -> str:
        """What every key of this store starts with."""
        return self._prefix

    @property
    def journal_size(self) -> int:
        """How many exchanges the journal keeps."""
        return self._journal_size

    # ------------------------------------------------------------ connection

    def _redis(self) -> aioredis.Redis:
        """The client of the running loop, made on first use (a pool belongs to a loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_SOCKET_TIMEOUT,
                # Once more on a broken connection (a restarted Redis never got the
                # call), never after a timeout: the scripts count and spend, and a call
                # that timed out may still run, so sending it again would count twice.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
                retry_on_timeout=False,
                client_name="mockllm",
            )
            self._loop = loop
            self._flushing = asyncio.Lock()
        return self._client

    def unavailable(self, exc: BaseException) -> StateUnavailableError:
        """The 503 for a Redis that cannot be reached."""
        reason = str(exc) or type(exc).__name__
        return StateUnavailableError(
            f"The state store {self._description} cannot be reached ({reason}). mockllm "
            "keeps the shared state of its workers there (--state); it answers again as "
            "soon as Redis does.",
            details={"state_store": self._description},
            headers={"retry-after": "1"},
        )

    @contextlib.asynccontextmanager
    async def _reaching(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            if _unreachable(exc):
                raise self.unavailable(exc) from exc
            raise

    async def _run(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one script. The scripts that concurrent requests of this loop turn ask
        for go to Redis together, in one pipeline: one round trip and one connection
        for all of them (each is still atomic on its own)."""
        loop = asyncio.get_running_loop()
        self._redis()
        done: asyncio.Future[Any] = loop.create_future()
        self._calls.append((source, [*keys, *args], len(keys), done))
        if len(self._calls) == 1:
            loop.call_soon(self._send_calls)
        return await done

    def _send_calls(self) -> None:
        calls, self._calls = self._calls, []
        task = asyncio.get_running_loop().create_task(self._execute(calls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, calls: list[_Call]) -> None:
        try:
            async with self._reaching():
                results = await self._pipeline(calls)
                missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
                if missing:
                    # Redis (re)started without these scripts: load them and run again only
                    # the calls it refused; the others ran already and must not run twice.
                    for source in {calls[i][0] for i in missing}:
                        await self._redis().script_load(source)
                    again = await self._pipeline([calls[i] for i in missing])
                    for i, result in zip(missing, again, strict=True):
                        results[i] = result
        except Exception as exc:  # every waiting caller gets the failure
            for *_, done in calls:
                if not done.done():
                    done.set_exception(
                        self.unavailable(exc.__cause__ or exc)
                        if isinstance(exc, StateUnavailableError)
                        else exc
                    )
            return
        for (*_, done), result in zip(calls, results, strict=True):
            if done.done():
                continue
            if isinstance(result, Exception):
                done.set_exception(self.unavailable(result) if _unreachable(result) else result)
            else:
                done.set_result(result)

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        pipe = self._redis().pipeline(transaction=False)
        for source, values, key_count, _ in calls:
            pipe.evalsha(_sha(source), key_count, *values)
        return list(await pipe.execute(raise_on_error=False))

    # ------------------------------------------------------------ use counters

    async def take(self, scenario: str, conversation: str | None, limit: int | None) -> int | None:
        """Count one use unless ``limit`` is reached (one Lua script, one round trip)."""
        used = await self._run(
            _TAKE,
            (self._uses_key, self._conv_prefix + scenario, self._conv_names, self._conv_order),
            (
                scenario,
                "0" if conversation is None else "1",
                conversation or "",
                "" if limit is None else limit,
                self._max_conversations,
                self._conv_prefix,
            ),
        )
        return None if used < 0 else int(used)

    def count(self, scenario: str) -> None:
        """Count one use that nobody waits for: it is written with the next journal batch."""
        with self._lock:
            self._pending_uses[scenario] = self._pending_uses.get(scenario, 0) + 1
        self._schedule_flush()

    async def uses(self) -> Mapping[str, int]:
        """Uses per scenario, summed over conversations."""
        await self._settle()
        pairs = await self._run(_USES, (self._uses_key, self._conv_names), (self._conv_prefix,))
        totals: dict[str, int] = {}
        for name, value in zip(pairs[::2], pairs[1::2], strict=True):
            key = _text(name)
            totals[key] = totals.get(key, 0) + int(value)
        return {name: count for name, count in totals.items() if count}

    async def forget_uses(self, scenarios: Sequence[str]) -> None:
        """Drop the counts of these scenarios (one transaction)."""
        if not scenarios:
            return
        await self._settle()
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.hdel(self._uses_key, *scenarios)
            pipe.srem(self._conv_names, *scenarios)
            pipe.delete(*(self._conv_prefix + name for name in scenarios))
            await pipe.execute()

    # ----------------------------------------------------------------- budgets

    async def spend(self, key: str, budgets: Sequence[BudgetSpend], now: float) -> Spent:
        """GCRA over each budget in one Lua script, on Redis's clock unless told not to."""
        args: list[Any] = ["" if self._server_clock else repr(now)]
        for budget in budgets:
            args.extend((budget.limit, repr(budget.interval), budget.cost))
        # The key is an API key: only its digest is kept.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        out = await self._run(_SPEND, (self._budget_prefix + digest,), args)
        return Spent(bool(out[0]), tuple(float(_text(v)) for v in out[1:]))

    # ----------------------------------------------------------------- journal

    def next_seq(self) -> int:
        """The next exchange number of this process."""
        with self._lock:
            self._seq += 1
            return self._seq

    def record(self, exchange: Exchange) -> None:
        """Queue one exchange; a task on the server's loop writes the queue in a batch."""
        with self._lock:
            self._pending.append(exchange)
            if len(self._pending) > self._journal_size:  # Redis down: keep the newest
                del self._pending[: len(self._pending) - self._journal_size]
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        with self._lock:
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        loop = self._loop
        if loop is None or loop.is_closed():
            with self._lock:  # no loop yet: the next read writes the queue
                self._flush_scheduled = False
            return
        loop.call_soon_threadsafe(self._start_flush)

    def _start_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(background=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, *, background: bool = False) -> None:
        """Write the queued exchanges and uses with one script (one round trip)."""
        self._redis()
        assert self._flushing is not None
        async with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
                uses, self._pending_uses = self._pending_uses, {}
                self._flush_scheduled = False
            if not batch and not uses:
                return
            args: list[Any] = [self._journal_size, len(batch)]
            args.extend(orjson.dumps(e.to_json(), default=str) for e in batch)
            for name, count in uses.items():
                args.extend((name, count))
            try:
                await self._run(
                    _APPEND, (self._journal_key, self._uses_key, self._live_channel), args
                )
            except StateUnavailableError:
                with self._lock:  # written with the next batch, once Redis is back
                    self._pending[:0] = batch
                    del self._pending[: max(0, len(self._pending) - self._journal_size)]
                    for name, count in uses.items():
                        self._pending_uses[name] = self._pending_uses.get(name, 0) + count
                if not background:
                    raise
                log.warning(
                    "mockllm: journal writes wait for the state store %s", self._description
                )

    async def _settle(self) -> None:
        """Write this process's queue, then have every process listening on the store
        write its own: a read then sees every exchange answered before it began."""
        await self._flush()
        token = os.urandom(8).hex()
        done = f"{self._prefix}flushed:{token}"
        client = self._redis()
        async with self._reaching():
            listeners = int(await client.publish(self._channel, _FLUSH + token))
            for _ in range(listeners):
                if await client.blpop([done], timeout=_SETTLE_TIMEOUT) is None:
                    break  # a process that does not answer (stopped): read anyway
            if listeners:
                await client.delete(done)

    async def _flushed(self, token: str) -> None:
        """Answer a reader's :meth:`_settle`: write the queue, then say so."""
        with contextlib.suppress(StateUnavailableError):
            await self._flush(background=True)
        with contextlib.suppress(*_UNREACHABLE, RedisError):
            pipe = self._redis().pipeline(transaction=False)
            done = f"{self._prefix}flushed:{token}"
            pipe.rpush(done, 1)
            pipe.expire(done, 10)
            await pipe.execute()

    async def exchanges(self) -> list[Exchange]:
        """Every exchange kept, oldest first, this process's queued ones included."""
        from ..journal import Exchange

        await self._settle()
        async with self._reaching():
            raw = await self._redis().lrange(self._journal_key, 0, -1)
        return [Exchange.from_json(orjson.loads(item)) for item in raw]

    async def journal_count(self) -> int:
        """How many exchanges are kept."""
        await self._settle()
        async with self._reaching():
            return int(await self._redis().llen(self._journal_key))

    async def clear_journal(self) -> int:
        """Forget every exchange; how many there were."""
        await self._settle()
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.llen(self._journal_key)
            pipe.delete(self._journal_key)
            pipe.publish(self._live_channel, _CLEARED)
            count, _, _ = await pipe.execute()
        return int(count)

    # ------------------------------------------------------ run-time scenarios

    async def runtime_scenarios(self) -> list[RuntimeScenario]:
        """The added scenarios, oldest first."""
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.zrange(self._scen_order, 0, -1)
            pipe.hgetall(self._scen_defs)
            names, definitions = await pipe.execute()
        found = []
        for name in names:
            payload = definitions.get(name)
            if payload is not None:
                definition, source = orjson.loads(payload)
                found.append(RuntimeScenario(_text(name), definition, source))
        return found

    async def add_scenarios(self, scenarios: Sequence[RuntimeScenario]) -> None:
        """Add (or replace, moving to the end) each scenario; every process is told."""
        if not scenarios:
            return
        args: list[Any] = [self._channel, self._origin]
        for scenario in scenarios:
            args.extend((scenario.name, orjson.dumps([scenario.definition, scenario.source])))
        await self._run(
            _ADD_SCENARIOS, (self._scen_defs, self._scen_order, self._scen_counter), args
        )

    async def remove_scenario(self, name: str) -> bool:
        """Remove one added scenario; every process is told."""
        return bool(
            await self._run(
                _REMOVE_SCENARIO,
                (self._scen_defs, self._scen_order),
                (self._channel, self._origin, name),
            )
        )

    async def clear_scenarios(self) -> None:
        """Remove every added scenario; every process is told."""
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.delete(self._scen_defs, self._scen_order)
            pipe.publish(self._channel, self._origin)
            await pipe.execute()

    def watch_scenarios(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on this loop when another process changes the added
        scenarios or resets the state (a Redis channel), and after a lost connection
        to Redis comes back (changes may have been missed meanwhile)."""
        self._watchers.append(callback)
        self._redis()
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _notify(self) -> None:
        for callback in list(self._watchers):
            callback()

    def _changed(self, raw: Any) -> None:
        data = _text(raw)
        if data.startswith(_FLUSH):
            task = asyncio.get_running_loop().create_task(self._flushed(data[len(_FLUSH) :]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif data != self._origin:
            self._notify()

    def _back(self) -> None:
        log.info("mockllm: the state store %s is back", self._description)
        self._notify()

    async def _listen(self) -> None:
        await self._subscribed(self._channel, self._changed, self._back)

    def follow_journal(self, callback: Callable[[str, Any], None] | None) -> Awaitable[None] | None:
        """Follow the live channel (every process's journal batches) while ``callback``
        is given; None stops. The awaitable completes once subscribed (or once Redis
        failed to answer: the caller's next read reports that)."""
        if self._follower is not None:
            self._follower.cancel()
            self._follower = None
        if callback is None:
            return None
        from ..journal import Exchange

        def heard(raw: Any) -> None:
            if raw in (_CLEARED, _CLEARED.encode()):
                callback("cleared", None)
                return
            for item in orjson.loads(raw):
                callback("exchange", Exchange.from_json(item))

        self._redis()
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._follower = loop.create_task(
            self._subscribed(
                self._live_channel, heard, lambda: callback("lagged", None), ready, quiet=True
            )
        )
        return ready

    async def _subscribed(
        self,
        channel: str,
        heard: Callable[[Any], None],
        back: Callable[[], None],
        ready: asyncio.Future[None] | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        """Listen on ``channel`` until cancelled: ``heard`` gets each message's data,
        ``back`` runs when a lost connection is made again (messages were missed);
        ``ready`` completes at the first subscription (or the first failure)."""
        lost = False
        while True:
            pubsub = self._redis().pubsub()
            try:
                await pubsub.subscribe(channel)
                if ready is not None and not ready.done():
                    ready.set_result(None)
                if lost:
                    back()
                    lost = False
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        heard(message["data"])
            except _UNREACHABLE + (RedisError,):
                if ready is not None and not ready.done():
                    ready.set_result(None)
                if not lost and not quiet:
                    log.warning("mockllm: lost the state store %s; retrying", self._description)
                lost = True
                await asyncio.sleep(_RELISTEN_DELAY)
            finally:
                # Called through Any: redis-py's stubs typed aclose only from 8.x on, and
                # an ignore comment would be an error on one side of that line or the other.
                closer: Any = pubsub
                with contextlib.suppress(Exception):
                    await closer.aclose()

    # ------------------------------------------------------- stored completions

    async def store_completion(self, completion: StoredCompletion) -> None:
        """Keep one completion, dropping the oldest beyond the bound."""
        await self._run(
            _STORE_COMPLETION,
            (self._comp_data, self._comp_meta, self._comp_order, self._comp_counter),
            (
                completion.id,
                _completion_json(completion),
                orjson.dumps(dict(completion.metadata)),
                self._completions_size,
            ),
        )

    async def completions(self) -> list[StoredCompletion]:
        """Every stored completion, oldest first."""
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.zrange(self._comp_order, 0, -1)
            pipe.hgetall(self._comp_data)
            pipe.hgetall(self._comp_meta)
            ids, data, metadata = await pipe.execute()
        return [_completion(data[i], metadata.get(i)) for i in ids if i in data]

    async def update_completion(
        self, id: str, metadata: Mapping[str, str]
    ) -> StoredCompletion | None:
        """Replace one completion's metadata."""
        encoded = orjson.dumps(dict(metadata))
        data = await self._run(
            _UPDATE_COMPLETION, (self._comp_data, self._comp_meta), (id, encoded)
        )
        return None if data is None else _completion(data, encoded)

    async def delete_completion(self, id: str) -> bool:
        """Forget one stored completion."""
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.hdel(self._comp_data, id)
            pipe.hdel(self._comp_meta, id)
            pipe.zrem(self._comp_order, id)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)

    # ------------------------------------------------------------ prompt cache

    async def cache_prompt(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s`` seconds (one ``SET ... GET PX``, Redis 6.2+:
        the old value says whether it was cached already)."""
        async with self._reaching():
            old = await self._redis().set(
                self._prompt_prefix + key, b"1", px=max(1, int(ttl_s * 1000)), get=True
            )
        return old is not None

    # ------------------------------------------------------------ API objects

    async def put_object(self, kind: str, id: str, data: Mapping[str, Any]) -> None:
        """Keep one object, dropping the oldest beyond the bound (one script)."""
        key = self._objects_prefix + kind
        await self._run(
            _PUT_OBJECT,
            (key, key + ":order", key + ":counter"),
            (id, orjson.dumps(dict(data)), self._completions_size),
        )

    async def get_object(self, kind: str, id: str) -> dict[str, Any] | None:
        """The kept object, or None."""
        async with self._reaching():
            data = await self._redis().hget(self._objects_prefix + kind, id)
        return None if data is None else dict(orjson.loads(data))

    async def delete_object(self, kind: str, id: str) -> bool:
        """Forget one kept object."""
        key = self._objects_prefix + kind
        async with self._reaching():
            pipe = self._redis().pipeline(transaction=True)
            pipe.hdel(key, id)
            pipe.zrem(key + ":order", id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    # --------------------------------------------------------------- lifecycle

    async def reset(self) -> int:
        """Counts, budgets and journal back to empty (one script); added scenarios stay."""
        await self._settle()
        dropped = await self._run(
            _RESET,
            (self._uses_key, self._conv_names, self._conv_order, self._journal_key),
            (
                self._conv_prefix,
                _glob_escape(self._budget_prefix) + "*",
                self._channel,
                self._origin,
                _glob_escape(self._prompt_prefix) + "*",
                self._live_channel,
            ),
        )
        return int(dropped)

    async def health(self) -> Mapping[str, Any]:
        """Whether Redis answers a PING, and how fast; never raises."""
        started = time.perf_counter()
        try:
            async with self._reaching():
                await self._redis().ping()
        except StateUnavailableError as exc:
            return {
                "store": self._description,
                "ok": False,
                "prefix": self._prefix,
                "error": exc.message,
            }
        return {
            "store": self._description,
            "ok": True,
            "prefix": self._prefix,
            "ping_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    async def close(self) -> None:
        """Write what is queued (when Redis answers), stop listening, disconnect."""
        for task in (self._listener, self._follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._listener = self._follower = None
        if self._client is None:
            return
        with contextlib.suppress(StateUnavailableError):
            await self._flush()
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()
        self._client = None
        self._loop = None
