"""Start-up work kept in the user cache, or done a faster way, gives what the work gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faker import Faker
from faker.providers.lorem.en_US import Provider

from mockllm.errors import ScenarioLoadError
from mockllm.reply_engine import textgen
from mockllm.reply_engine.tokens import ApproxTokenizer, ModelEncodings
from mockllm.scenario_engine.conditions import MatcherRegistry, RequestView, default_registry
from mockllm.scenario_engine.loader import ScenarioLoader
from mockllm.scenario_engine.scenarioset import Scenario, ScenarioSet
from mockllm.schemaset import REQUEST_SCHEMA, SchemaSet, bundle, fast_validator
from mockllm.state import run_now


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MOCKLLM_CACHE_DIR", str(folder))
    return folder


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
    assert [fast.paragraphs(rng_a, 3).text for _ in range(50)] == [
        slow.paragraphs(rng_b, 3).text for _ in range(50)
    ]


def test_the_word_list_is_fakers_cached_or_not(cache: Path) -> None:
    assert textgen.english_words() == tuple(Provider.word_list)  # read from Faker, cached
    [cached] = cache.iterdir()
    assert textgen.english_words() == tuple(Provider.word_list)  # read from the cache
    cached.write_text("[damaged")
    assert textgen.english_words() == tuple(Provider.word_list)


def test_a_fast_validator_is_built_without_generated_code_or_the_cache(cache: Path) -> None:
    schemas = SchemaSet.load()
    validator = fast_validator(bundle(schemas.schema(REQUEST_SCHEMA), schemas.schemas))
    body: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert validator.is_valid(body)
    assert not validator.is_valid({**body, "messages": [{"role": "nobody", "content": "hi"}]})
    assert not validator.is_valid({**body, "temperature": 3})  # a rule behind a file ref
    assert not cache.exists()


def test_validators_are_built_on_first_use_and_kept(cache: Path) -> None:
    schemas = SchemaSet.load()
    strict = schemas.fast_request_strict
    assert schemas.fast_request_strict is strict
    assert schemas.fast_request_lenient is not strict
    assert not cache.exists()


_FILE = """\
scenarios:
  - name: ticket
    when:
      model: gpt-4o
      last_user_message: {regex: '^ticket (?P<number>\\d+)$'}
    reply: {content: "Ticket {{ number }}"}

  - name: plain
    when: {last_user_message: {contains: hello}}
    reply: {content: hi}
"""


def _ask(text: str) -> RequestView:
    return RequestView({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})


def _load(path: Path) -> list[Scenario]:
    return ScenarioLoader().load_paths([path])


def test_a_file_loaded_again_from_the_cache_is_the_same(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "files" / "s.yaml"
    path.parent.mkdir()
    path.write_text(_FILE)
    first = _load(path)
    # The parse and the regexes are cached; the schema check needs no cache.
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["regexes", "yaml"]
    again = _load(path)  # the parse and the regex's group names from the cache
    assert [(s.name, s.source, s.fingerprint, s.group_names, s.index) for s in again] == [
        (s.name, s.source, s.fingerprint, s.group_names, s.index) for s in first
    ]
    assert [s.source.rsplit(":", 1)[1] for s in again] == ["2", "8"]
    matched = run_now(ScenarioSet(again).resolve(_ask("ticket 42")))
    assert matched.scenario.name == "ticket"
    assert matched.render(Faker()) == {"content": "Ticket 42"}


def test_an_error_in_a_file_parsed_before_names_its_line(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "files" / "s.yaml"
    path.parent.mkdir()
    path.write_text(_FILE)
    _load(path)
    # The same text, loaded with a registry that lacks a condition it uses.
    matcher = default_registry().matcher("last_user_message")
    assert matcher is not None
    with pytest.raises(ScenarioLoadError) as caught:
        ScenarioLoader(MatcherRegistry({"last_user_message": matcher})).load_paths([path])
    assert caught.value.line == 4  # the `model:` key, inside the scenario


def test_a_bad_regex_is_still_a_load_error_after_a_good_load(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "files" / "s.yaml"
    path.parent.mkdir()
    path.write_text(_FILE)
    _load(path)
    path.write_text(_FILE.replace("(?P<number>", "(?P<number"))
    with pytest.raises(ScenarioLoadError, match="bad regex"):
        _load(path)


def test_tiktokens_model_tables_come_from_the_cache_alike(cache: Path) -> None:
    from tiktoken.model import encoding_name_for_model

    models = ["gpt-4o", "gpt-4o-mini-2024", "gpt-4", "gpt-3.5-turbo-16k", "o3-mini", "gpt-5"]
    first = [ModelEncodings().encoding(m) for m in models]  # read from tiktoken, cached
    [cached] = cache.iterdir()
    assert [ModelEncodings().encoding(m) for m in models] == first  # from the cache
    assert first == [
        encoding_name_for_model(m).replace("o200k_harmony", "o200k_base") for m in models
    ]
    cached.write_text("{damaged")
    assert [ModelEncodings().encoding(m) for m in models] == first
    assert ModelEncodings().encoding("mock-model") == "cl100k_base"


def test_a_pool_from_the_cache_is_the_pool_drawn_afresh(cache: Path) -> None:
    class Plain:  # a tokenizer without an identity: its tokens name the cached pool
        name = "plain"

        def __init__(self) -> None:
            self._inner = ApproxTokenizer()

        def split(self, text: str) -> list[str]:
            return self._inner.split(text)

        def count(self, text: str) -> int:
            return self._inner.count(text)

    words = textgen.english_words()
    texts = []
    for tokenizer in (ApproxTokenizer(), ApproxTokenizer(), Plain(), Plain()):
        rng = random.Random(8)
        texts.append(
            [
                textgen.TextGenerator(words, tokenizer, pool=256).paragraphs(rng, 2).text
                for _ in range(20)
            ]
        )
    assert texts[0] == texts[1] == texts[2] == texts[3]
    assert len([p for p in cache.iterdir() if p.name.startswith("sentences-")]) == 2
