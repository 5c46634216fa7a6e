"""Fast seeded English text, with its tokens already split.

A Faker paragraph costs about 35 µs, too slow for every request. A
:class:`TextGenerator` builds once, at start-up, a pool of sentences from a word list
(Faker's en_US lorem words by default, kept in the user cache so that later runs need
not import Faker) with a fixed seed, and stores each sentence's text and tokens; the
pool is kept in the user cache too, named by a hash of all it follows from. A
paragraph is then a handful of sentences picked by one batch of random bytes from the
request's seeded ``random.Random``: a few table lookups and a string join. With 8,192
sentences a four-sentence paragraph has 4.5e15 variants.

Tokenizers cut text at word and punctuation boundaries before any BPE merge (see
:mod:`mockllm.reply_engine.tokens`), so the tokens of a sentence are the tokens of its words, its
commas and its full stop, joined. A generated :class:`Text` therefore carries exact
tokens without running the tokenizer per request:
``tokenizer.split(text.text) == list(text.tokens)``.
"""

from __future__ import annotations

import json
import marshal
import random
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import TypeVar

from ..diskcache import cache_name, package_json, read_marshalled, write_cached
from .tokens import Tokenizer

__all__ = ["Text", "TextGenerator", "english_words"]

# Sentence picks are 16-bit random numbers; the pool is repeated to fill all 65,536
# slots so a pick needs no modulo (one C-level itemgetter call per paragraph).
_SLOTS = 1 << 16
_POOL_SEED = 20240501
_T = TypeVar("_T")
# Changes whenever the pool is drawn or kept differently.
_POOL_FORMAT = 2
# The tokens of the words (three ways each) and of ".", "," and ".\n\n".
_Splits = tuple[
    tuple[tuple[str, ...], ...],
    tuple[tuple[str, ...], ...],
    tuple[tuple[str, ...], ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
]


@dataclass(frozen=True, slots=True)
class Text:
    """Generated text: ``parts`` are runs of tokens; ``"".join(tokens) == text``."""

    text: str
    parts: tuple[tuple[str, ...], ...]
    count: int

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens of the text, in order."""
        return tuple(chain.from_iterable(self.parts))


class TextGenerator:
    """Seeded sentences and paragraphs from a fixed word list (module docstring)."""

    def __init__(
        self,
        words: Sequence[str],
        tokenizer: Tokenizer,
        *,
        pool: int = 8192,
        sentence_words: tuple[int, int] = (5, 14),
    ) -> None:
        if not words:
            raise ValueError("TextGenerator needs at least one word")
        lo, hi = sentence_words
        if lo < 1 or hi < lo:
            raise ValueError("sentence_words must be (lo, hi) with 1 <= lo <= hi")
        self.tokenizer = tokenizer
        self.vocabulary: tuple[str, ...] = tuple(words)
        self._words = self.vocabulary
        # The pool follows from the word list, their tokens and the sizes alone: kept in
        # the user cache with the words' tokens, it loads in a few milliseconds instead
        # of being drawn again. A tokenizer with an ``identity`` (mockllm's own) names
        # its tokens by it; any other is asked for them, and they name the file.
        identity = getattr(tokenizer, "identity", None)
        splits = None if isinstance(identity, str) else _split_words(self._words, tokenizer)
        name = cache_name(
            "sentences",
            json.dumps(
                [
                    _POOL_FORMAT,
                    sys.version,
                    _POOL_SEED,
                    pool,
                    lo,
                    hi,
                    self._words,
                    identity if splits is None else splits,
                ]
            ).encode(),
            "",
        )
        cached = _cached_pool(name, pool, len(self._words))
        if cached is None:
            self._take_splits(splits or _split_words(self._words, tokenizer))
            opening, following = self._build_pool(pool, lo, hi)
            write_cached(name, marshal.dumps((self._splits(), opening, following)))
        else:
            self._take_splits(cached[0])
            opening, following = cached[1], cached[2]
        # Slot i holds sentence i % pool; every copy is the same object.
        self._open_tokens = _fill_slots(opening)
        self._follow_tokens = _fill_slots(following)
        self._open_text = _fill_slots(["".join(t) for t in opening])
        self._follow_text = _fill_slots(["".join(t) for t in following])
        self._follow_count = _fill_slots([len(t) for t in following])

    def _take_splits(self, splits: _Splits) -> None:
        (self._mid, self._start, self._initial, self._period, self._comma, self._break) = splits

    def _splits(self) -> _Splits:
        return (self._mid, self._start, self._initial, self._period, self._comma, self._break)

    def _build_pool(
        self, pool: int, lo: int, hi: int
    ) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """Each sentence twice: opening the text ("Word ...") and following another
        sentence (" Word ...")."""
        builder = random.Random(_POOL_SEED)
        below = _draws(builder)
        opening: list[tuple[str, ...]] = []
        following: list[tuple[str, ...]] = []
        for _ in range(pool):
            first, rest = self._build_sentence(builder, below, lo + below(hi - lo + 1))
            opening.append(self._initial[first] + rest)
            following.append(self._start[first] + rest)
        return opening, following

    @classmethod
    def english(cls, tokenizer: Tokenizer) -> TextGenerator:
        """A generator over Faker's en_US lorem word list (about 1,000 common words)."""
        return cls(english_words(), tokenizer)

    def paragraph(self, rng: random.Random, sentences: tuple[int, int] = (2, 5)) -> Text:
        """One paragraph of ``sentences[0]`` to ``sentences[1]`` sentences."""
        lo, hi = sentences
        return self.sentence_count(rng, lo + rng.getrandbits(16) % (hi - lo + 1))

    def sentence_count(self, rng: random.Random, count: int) -> Text:
        """Exactly ``count`` (at least one) sentences."""
        picks = array("H", rng.randbytes(2 * max(count, 1)))
        head = picks[0]
        first = self._open_tokens[head]
        if len(picks) == 1:
            return Text(self._open_text[head], (first,), len(first))
        if len(picks) == 2:
            tail = picks[1]
            parts: tuple[tuple[str, ...], ...] = (first, self._follow_tokens[tail])
            return Text(
                self._open_text[head] + self._follow_text[tail],
                parts,
                len(first) + self._follow_count[tail],
            )
        rest = itemgetter(*picks[1:])
        return Text(
            self._open_text[head] + "".join(rest(self._follow_text)),
            (first, *rest(self._follow_tokens)),
            len(first) + sum(rest(self._follow_count)),
        )

    def paragraphs(
        self, rng: random.Random, count: int, sentences: tuple[int, int] = (2, 5)
    ) -> Text:
        """``count`` paragraphs separated by blank lines."""
        parts: list[tuple[str, ...]] = []
        texts: list[str] = []
        period = len(self._period)
        for i in range(max(count, 1)):
            para = self.paragraph(rng, sentences)
            if i:
                # ".\n\n" is one piece for the tokenizer: swap the previous full stop.
                parts[-1] = parts[-1][:-period] + self._break
                texts[-1] = texts[-1][:-1] + ".\n\n"
            parts.extend(para.parts)
            texts.append(para.text)
        return Text("".join(texts), tuple(parts), sum(len(p) for p in parts))

    def words(self, rng: random.Random, count: int) -> str:
        """``count`` words, the first capitalised, without punctuation (e.g. a title)."""
        n = len(self._words)
        picks = [rng.randrange(n) for _ in range(max(count, 1))]
        return "".join(
            "".join(self._initial[p] if i == 0 else self._mid[p]) for i, p in enumerate(picks)
        )

    def _build_sentence(
        self, rng: random.Random, below: Callable[[int], int], length: int
    ) -> tuple[int, tuple[str, ...]]:
        """(index of the first word, tokens of the rest) of one sentence."""
        n = len(self._words)
        picks = [below(n) for _ in range(length)]
        rest: list[str] = []
        comma = length >= 8 and rng.random() < 0.5
        for pos, p in enumerate(picks[1:], start=1):
            if comma and pos == length // 2:
                rest.extend(self._comma)
            rest.extend(self._mid[p])
        rest.extend(self._period)
        return picks[0], tuple(rest)


def _split_words(words: Sequence[str], tokenizer: Tokenizer) -> _Splits:
    """The tokens of each word in the middle of a sentence, starting one after another,
    and opening the text; then of a full stop, a comma and a paragraph break."""
    split = tokenizer.split
    return (
        tuple(tuple(split(" " + w)) for w in words),
        tuple(tuple(split(" " + w.capitalize())) for w in words),
        tuple(tuple(split(w.capitalize())) for w in words),
        tuple(split(".")),
        tuple(split(",")),
        tuple(split(".\n\n")),
    )


def _cached_pool(
    name: str, pool: int, words: int
) -> tuple[_Splits, list[tuple[str, ...]], list[tuple[str, ...]]] | None:
    """(the words' tokens, opening sentences, following sentences) kept as ``name``, when
    the file holds them."""
    found = read_marshalled(name)
    if not (isinstance(found, tuple) and len(found) == 3):
        return None
    splits, opening, following = found
    if not (
        isinstance(splits, tuple)
        and len(splits) == 6
        and all(type(part) is tuple for part in splits)
        and all(len(part) == words for part in splits[:3])
        and all(
            isinstance(side, list)
            and len(side) == pool
            and all(type(sentence) is tuple for sentence in side)
            for side in (opening, following)
        )
    ):
        return None
    return splits, opening, following


def _fill_slots(pool: list[_T]) -> tuple[_T, ...]:
    """``_SLOTS`` items, item ``i`` being ``pool[i % len(pool)]``."""
    return tuple((pool * -(-_SLOTS // len(pool)))[:_SLOTS])


def _draws(rng: random.Random) -> Callable[[int], int]:
    """``rng.randrange`` of one argument, drawing exactly what it draws (the pool's text
    must not change) without its three Python-level calls per number; ``randrange``
    itself on a Python whose ``Random`` draws otherwise."""
    probe, fast = random.Random(_POOL_SEED), _below(random.Random(_POOL_SEED))
    if all(probe.randrange(n) == fast(n) for n in (1000, 7, 10, 1 << 20, 999, 3, 65, 1)):
        return _below(rng)
    return rng.randrange


def _below(rng: random.Random) -> Callable[[int], int]:
    getrandbits = rng.getrandbits

    def below(n: int) -> int:
        # CPython's Random._randbelow_with_getrandbits: k bits until one is below n.
        k = n.bit_length()
        found = getrandbits(k)
        while found >= n:
            found = getrandbits(k)
        return found

    return below


def english_words() -> tuple[str, ...]:
    """Faker's en_US lorem words; from the user cache when this Faker's list was read
    before (the cache file is named by a hash of the module that defines it)."""

    def read() -> list[str]:
        from faker.providers.lorem.en_US import Provider

        return list(Provider.word_list)

    return tuple(
        package_json(
            "faker",
            "providers/lorem/en_US/__init__.py",
            "faker-en_US-words",
            read,
            lambda words: (
                isinstance(words, list) and bool(words) and all(isinstance(w, str) for w in words)
            ),
        )
    )
