"""Which seed a request gets, and what ``created`` says.

The seed fixes every random choice of a reply (text, ids, tool arguments, timing
jitter, faults). It comes from the ``Prefer: seed=N`` override, else the request's
``seed`` field, else the server's ``--seed``, and is mixed with a hash of the
canonical body (less the fields that only shape delivery, such as ``stream`` and
``stop``): different requests get different replies, and the same request with the
same seed gets the same bytes. With no seed anywhere a request gets a
fresh random one, as a real model would answer differently each time.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from typing import Any, NamedTuple

import orjson

__all__ = ["DeferredFaker", "LazySeededFaker", "RequestSeed", "request_seed"]

# Fields that change how a reply is delivered or cut, not what the model "writes": they stay
# out of the hash, so a stream, a stop sequence, a token limit or logprobs give the same text
# as the plain request (and choice 0 of n is the n=1 reply).
_DELIVERY_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "logprobs",
        "top_logprobs",
        "seed",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
    }
)

# `created` of a seeded reply: a fixed instant plus a seed-derived offset, so the
# bytes repeat while the value still looks like a timestamp.
_SEEDED_EPOCH = 1_750_000_000


class RequestSeed(NamedTuple):
    """The seed of one request and the ``created`` time that goes with it (a named
    tuple: every request makes one, and a frozen dataclass costs more to build)."""

    seed: int
    created: int
    seeded: bool


def request_seed(
    body: Any, *, override: int | None, server_seed: int | None, rng: random.Random | None = None
) -> RequestSeed:
    """Pick the seed of a request (see the module docstring for the order); ``rng``
    draws the fresh seed of an unseeded request (default: the OS)."""
    body_seed = body.get("seed") if isinstance(body, dict) else None
    base = override if override is not None else body_seed
    if base is None:
        base = server_seed
    if base is None:
        fresh = rng.getrandbits(64) if rng is not None else int.from_bytes(os.urandom(8), "big")
        return RequestSeed(fresh, int(time.time()), False)
    content = {k: v for k, v in body.items() if k not in _DELIVERY_FIELDS}
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(canonical, digest_size=8, key=str(base).encode()[:64]).digest()
    seed = int.from_bytes(digest, "big")
    return RequestSeed(seed, _SEEDED_EPOCH + seed % 10_000_000, True)


class LazySeededFaker:
    """A Faker that takes the request's seed on first use.

    Most replies never call faker, and seeding it costs several microseconds, so the
    seed is applied only when a template or the generator first reaches for a method.
    """

    __slots__ = ("_faker", "_seed", "_seeded")

    def __init__(self, faker: Any, seed: int) -> None:
        self._faker = faker
        self._seed = seed
        self._seeded = False

    def __getattr__(self, name: str) -> Any:
        if not self._seeded:
            self._faker.seed_instance(self._seed)
            self._seeded = True
        return getattr(self._faker, name)


class DeferredFaker:
    """An app's ``Faker(locale)``, built the first time a reply reaches for it.

    Importing Faker and building an instance takes about 0.1 s, and most servers
    answer their first requests (or all of them) without it. Thread-safe: the
    pytest plugin's background server and its tests may reach for it at once.
    """

    __slots__ = ("_faker", "_lock", "_locale")

    def __init__(self, locale: str = "en_US") -> None:
        self._locale = locale
        self._faker: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The Faker instance, built now if this is its first use."""
        if self._faker is None:
            with self._lock:
                if self._faker is None:
                    from faker import Faker

                    self._faker = Faker(self._locale)
        return self._faker

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)
