"""Which seed a request gets: same request and seed, same seed; delivery fields ignored."""

from __future__ import annotations

import random
from typing import Any

import pytest
from faker import Faker

from mockllm.reply_engine.seeding import LazySeededFaker, request_seed

BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hi"}],
    "seed": 7,
}


def test_same_body_and_seed_give_the_same_seed_and_created() -> None:
    first = request_seed(dict(BODY), override=None, server_seed=None)
    second = request_seed(dict(BODY), override=None, server_seed=None)
    assert first == second and first.seeded


@pytest.mark.parametrize(
    "change",
    [
        {"stream": True},
        {"stop": ["x"]},
        {"max_tokens": 3},
        {"n": 2},
        {"logprobs": True},
        {"stream_options": {"include_usage": True}},
        {"metadata": {"a": "b"}},
    ],
)
def test_delivery_fields_do_not_change_the_seed(change: dict[str, Any]) -> None:
    base = request_seed(BODY, override=None, server_seed=None)
    assert request_seed({**BODY, **change}, override=None, server_seed=None).seed == base.seed


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o-mini"},
        {"messages": [{"role": "user", "content": "hello"}]},
        {"seed": 8},
        {"temperature": 0.5},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
    ],
)
def test_content_fields_change_the_seed(change: dict[str, Any]) -> None:
    base = request_seed(BODY, override=None, server_seed=None)
    assert request_seed({**BODY, **change}, override=None, server_seed=None).seed != base.seed


def test_seed_order_override_then_body_then_server() -> None:
    no_seed = {k: v for k, v in BODY.items() if k != "seed"}
    by_server = request_seed(no_seed, override=None, server_seed=7)
    assert by_server.seeded
    assert request_seed(no_seed, override=7, server_seed=99).seed == by_server.seed
    assert request_seed(no_seed, override=None, server_seed=8).seed != by_server.seed


def test_without_any_seed_each_request_is_fresh() -> None:
    no_seed = {k: v for k, v in BODY.items() if k != "seed"}
    first = request_seed(no_seed, override=None, server_seed=None)
    second = request_seed(no_seed, override=None, server_seed=None)
    assert not first.seeded and first.seed != second.seed


def test_lazy_faker_seeds_on_first_use_only() -> None:
    faker = Faker("en_US")
    faker.seed_instance(1)
    twin = Faker("en_US")
    twin.seed_instance(1)
    LazySeededFaker(faker, 42)  # made but never used: the shared faker is not reseeded
    assert faker.random_int(0, 10**9) == twin.random_int(0, 10**9)

    def draw(seed: int) -> tuple[str, int]:
        lazy = LazySeededFaker(faker, seed)
        return lazy.name(), lazy.random_int(0, 10**9)

    assert draw(42) == draw(42)
    assert draw(42) != draw(43)


def test_an_unseeded_request_draws_its_seed_from_the_given_generator() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    drawn = request_seed(body, override=None, server_seed=None, rng=random.Random(3))
    assert drawn.seed == random.Random(3).getrandbits(64) and not drawn.seeded
    # A seeded request ignores the generator: its seed follows from the body alone.
    seeded = [
        request_seed(body, override=7, server_seed=None, rng=random.Random(n)) for n in (1, 2)
    ]
    assert seeded[0] == seeded[1] and seeded[0].seeded
