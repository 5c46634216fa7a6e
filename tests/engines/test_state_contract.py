"""The state store contract: every StateStore implementation passes these same tests.

The ``store`` fixture is parametrized over the implementations; a networked store adds
its factory to ``STORES`` (or to the fixture's params) and runs the whole suite.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mockllm.journal import Exchange
from mockllm.state import BudgetSpend, MemoryStore, RuntimeScenario, StateStore, StoredCompletion

StoreFactory = Callable[[int], Awaitable[StateStore]]
# A store of one implementation: the journal size, and the test asking (for fixtures).
Implementation = Callable[[int, pytest.FixtureRequest], Awaitable[StateStore]]


async def _memory(journal_size: int, request: pytest.FixtureRequest) -> StateStore:
    return MemoryStore(journal_size, max_conversations=4)


async def _redis(journal_size: int, request: pytest.FixtureRequest) -> StateStore:
    """A Redis store on the session's redis-server; its own key prefix keeps every
    store apart. Budgets use the callers' clock, which these tests move by hand."""
    from mockllm.state.redis_store import RedisStore

    server = request.getfixturevalue("redis_server")
    return RedisStore(
        server.url,
        prefix=f"contract:{uuid.uuid4().hex}:",
        journal_size=journal_size,
        max_conversations=4,
        server_clock=False,
    )


STORES: dict[str, Implementation] = {"memory": _memory, "redis": _redis}


@pytest.fixture(params=sorted(STORES))
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    made: list[StateStore] = []

    async def make(journal_size: int = 10) -> StateStore:
        store = await STORES[request.param](journal_size, request)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


def exchange(seq: int, scenario: str = "s") -> Exchange:
    return Exchange(
        seq=seq,
        request_id=f"req_{seq}",
        time=float(seq),
        method="POST",
        path="/v1/chat/completions",
        query={},
        headers={},
        body={"model": "m", "messages": [{"role": "user", "content": str(seq)}]},
        raw_body=None,
        field_errors=(),
        scenario=scenario,
        near_misses=(),
        status=200,
        response=None,
        error=None,
        stream=False,
        duration_ms=1.0,
    )


# ------------------------------------------------------------------ use counters


async def test_take_counts_up_to_the_limit_then_refuses(make_store: StoreFactory) -> None:
    store = await make_store()
    assert [await store.take("a", None, 2) for _ in range(3)] == [0, 1, None]
    assert (await store.uses())["a"] == 2
    assert await store.take("a", None, None) == 2  # no limit: a forced use still counts


async def test_conversations_count_apart_and_sum_in_uses(make_store: StoreFactory) -> None:
    store = await make_store()
    assert await store.take("a", "c1", 1) == 0
    assert await store.take("a", "c1", 1) is None
    assert await store.take("a", "c2", 1) == 0
    assert await store.take("a", None, None) == 0
    assert (await store.uses())["a"] == 3


async def test_counts_without_a_conversation_are_never_evicted(make_store: StoreFactory) -> None:
    # The table of conversations is full (4 in these stores) many times over: a used-up
    # `times: 1` scenario must stay used up.
    store = await make_store()
    assert await store.take("once", None, 1) == 0
    for n in range(50):
        await store.take("per-conversation", f"c{n}", None)
    assert await store.take("once", None, 1) is None


async def test_concurrent_takes_count_each_use_once(make_store: StoreFactory) -> None:
    store = await make_store()
    got = await asyncio.gather(*(store.take("seq", None, 50) for _ in range(64)))
    taken = [g for g in got if g is not None]
    assert sorted(taken) == list(range(50))
    assert got.count(None) == 14


async def test_forget_uses_drops_only_the_named(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.take("a", None, None)
    await store.take("a", "c", None)
    await store.take("b", None, None)
    await store.forget_uses(["a"])
    assert dict(await store.uses()) == {"b": 1}


# ----------------------------------------------------------------------- budgets


async def test_spend_is_all_or_nothing(make_store: StoreFactory) -> None:
    store = await make_store()
    budgets = [BudgetSpend(2, 30.0, 1), BudgetSpend(100, 0.6, 60)]
    first = await store.spend("k", budgets, 0.0)
    assert first.allowed and first.used == (0.0, 0.0)
    refused = await store.spend("k", budgets, 0.0)  # tokens: 60 + 60 > 100
    assert not refused.allowed and refused.used == pytest.approx((1.0, 60.0))
    again = await store.spend("k", budgets, 0.0)  # the refusal spent nothing
    assert again.used == pytest.approx((1.0, 60.0))


async def test_buckets_refill_with_time_and_keys_are_apart(make_store: StoreFactory) -> None:
    store = await make_store()
    budget = [BudgetSpend(1, 60.0, 1)]
    assert (await store.spend("a", budget, 100.0)).allowed
    assert not (await store.spend("a", budget, 130.0)).allowed
    assert (await store.spend("b", budget, 130.0)).allowed
    assert (await store.spend("a", budget, 160.0)).allowed


# ----------------------------------------------------------------------- journal


async def test_journal_is_bounded_and_keeps_the_newest(make_store: StoreFactory) -> None:
    store = await make_store(3)
    for seq in range(1, 6):
        store.record(exchange(seq))
    await asyncio.sleep(0)  # a store may write the journal off the request's path
    assert store.journal_size == 3
    assert [e.seq for e in await store.exchanges()] == [3, 4, 5]
    assert await store.journal_count() == 3
    assert await store.clear_journal() == 3
    assert await store.exchanges() == []


async def test_sequence_numbers_increase_across_clears(make_store: StoreFactory) -> None:
    store = await make_store()
    first = store.next_seq()
    await store.clear_journal()
    assert store.next_seq() > first


async def test_exchanges_keep_what_was_recorded(make_store: StoreFactory) -> None:
    store = await make_store()
    store.record(exchange(7, scenario="greeting"))
    await asyncio.sleep(0)
    [kept] = await store.exchanges()
    assert (kept.seq, kept.scenario, kept.body["messages"][0]["content"]) == (7, "greeting", "7")


async def test_reading_while_another_thread_writes_is_safe(make_store: StoreFactory) -> None:
    store = await make_store(50)
    stop = threading.Event()

    def writer() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            store.record(exchange(seq))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(500):
            assert all(e.status == 200 for e in await store.exchanges())
    finally:
        stop.set()
        thread.join()


# ------------------------------------------------------------ run-time scenarios


async def test_added_scenarios_keep_order_and_replace_by_name(make_store: StoreFactory) -> None:
    store = await make_store()
    a, b = RuntimeScenario("a", '{"name":"a"}', "x:1"), RuntimeScenario("b", '{"name":"b"}', "")
    await store.add_scenarios([a, b])
    a2 = RuntimeScenario("a", '{"name":"a","priority":1}', "x:2")
    await store.add_scenarios([a2])
    assert await store.runtime_scenarios() == [b, a2]
    assert await store.remove_scenario("b") and not await store.remove_scenario("b")
    await store.clear_scenarios()
    assert await store.runtime_scenarios() == []


# ------------------------------------------------------------ stored completions


def completion(n: int, **metadata: str) -> StoredCompletion:
    return StoredCompletion(
        id=f"chatcmpl-{n}",
        created=n,
        model="m",
        metadata=metadata,
        request_messages=({"role": "user", "content": str(n)},),
        response={"id": f"chatcmpl-{n}"},
    )


async def test_completions_are_bounded_updatable_and_deletable(make_store: StoreFactory) -> None:
    store = await make_store(3)
    for n in range(5):
        await store.store_completion(completion(n))
    assert [c.id for c in await store.completions()] == ["chatcmpl-2", "chatcmpl-3", "chatcmpl-4"]
    updated = await store.update_completion("chatcmpl-3", {"k": "v"})
    assert updated is not None and updated.metadata == {"k": "v"}
    assert await store.update_completion("chatcmpl-0", {}) is None
    assert await store.delete_completion("chatcmpl-3")
    assert not await store.delete_completion("chatcmpl-3")
    assert [c.id for c in await store.completions()] == ["chatcmpl-2", "chatcmpl-4"]


# ------------------------------------------------------------------- API objects


async def test_objects_are_kept_by_kind_and_id_bounded_and_deletable(
    make_store: StoreFactory,
) -> None:
    store = await make_store(3)
    for n in range(4):
        await store.put_object("response", f"resp_{n}", {"n": n, "items": [{"id": n}]})
    await store.put_object("conversation", "resp_3", {"other": True})
    assert await store.get_object("response", "resp_0") is None  # the oldest went
    assert await store.get_object("response", "resp_3") == {"n": 3, "items": [{"id": 3}]}
    assert await store.get_object("conversation", "resp_3") == {"other": True}
    await store.put_object("response", "resp_3", {"n": 30})
    assert await store.get_object("response", "resp_3") == {"n": 30}
    assert await store.delete_object("response", "resp_3")
    assert not await store.delete_object("response", "resp_3")
    assert await store.get_object("response", "resp_3") is None


# ---------------------------------------------------------------------- lifecycle


async def test_reset_clears_counts_budgets_and_journal_but_not_scenarios(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    await store.take("a", None, 1)
    await store.spend("k", [BudgetSpend(1, 60.0, 1)], 0.0)
    store.record(exchange(1))
    await store.add_scenarios([RuntimeScenario("a", "{}", "")])
    await asyncio.sleep(0)
    assert await store.reset() == 1
    assert await store.take("a", None, 1) == 0
    assert (await store.spend("k", [BudgetSpend(1, 60.0, 1)], 0.0)).allowed
    assert await store.exchanges() == []
    assert [s.name for s in await store.runtime_scenarios()] == ["a"]


async def test_the_prompt_cache_hits_on_a_second_sight_until_it_expires_or_resets(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    assert await store.cache_prompt("p1", 60.0) is False
    assert await store.cache_prompt("p1", 60.0) is True
    assert await store.cache_prompt("p2", 60.0) is False
    assert await store.cache_prompt("brief", 0.05) is False
    await asyncio.sleep(0.1)
    assert await store.cache_prompt("brief", 60.0) is False  # expired: written again
    await store.reset()
    assert await store.cache_prompt("p1", 60.0) is False


async def test_health_names_the_store(make_store: StoreFactory) -> None:
    store = await make_store()
    health: dict[str, Any] = dict(await store.health())
    assert health["ok"] is True and health["store"] == store.description
