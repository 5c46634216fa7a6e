"""Start-up work kept in the user cache, or done a faster way, gives what the work gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faker.providers.lorem.en_US import Provider

from mockllm.reply_engine import textgen
from mockllm.reply_engine.tokens import ApproxTokenizer
from mockllm.schemaset import REQUEST_SCHEMA, SchemaSet, bundle, compile_fast


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOCKLLM_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_pool_draws_what_randrange_draws() -> None:
    fast, slow = textgen._draws(random.Random(9)), random.Random(9)
    sizes = [1, 2, 3, 7, 10, 999, 1000, 1001, 1 << 16, 12345678] * 200
    assert [fast(n) for n in sizes] == [slow.randrange(n) for n in sizes]


def test_the_pool_is_the_same_with_randranges_own_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    words = textgen.english_words()
    fast = textgen.TextGenerator(words, ApproxTokenizer(), pool=512)
    monkeypatch.setattr(textgen, "_draws", lambda rng: rng.randrange)
    slow = textgen.TextGenerator(words, ApproxTokenizer(), pool=512)
    rng_a, rng_b = random.Random(4), random.Random(4)
    assert [fast.paragraphs(rng_a, 3).text for _ in range(50)] \
        == [slow.paragraphs(rng_b, 3).text for _ in range(50)]


def test_the_word_list_is_fakers_cached_or_not(cache: Path) -> None:
    assert textgen.english_words() == tuple(Provider.word_list)  # read from Faker, cached
    [cached] = cache.iterdir()
    assert textgen.english_words() == tuple(Provider.word_list)  # read from the cache
    cached.write_text("[damaged")
    assert textgen.english_words() == tuple(Provider.word_list)


def test_a_validator_compiles_once_into_the_cache(cache: Path) -> None:
    schemas = SchemaSet.load()
    schema = bundle(schemas.schema(REQUEST_SCHEMA), schemas.schemas)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert compile_fast(schema)(body) == body
    [cached] = cache.iterdir()
    assert compile_fast(schema)(body) == body
    cached.write_bytes(b"damaged")
    assert compile_fast(schema)(body) == body


def test_validators_compile_on_first_use(cache: Path) -> None:
    schemas = SchemaSet.load()
    assert list(cache.iterdir()) == []
    strict = schemas.fast_request_strict
    assert schemas.fast_request_strict is strict
    assert len(list(cache.iterdir())) == 1
