"""Each encoding's tokenizer and sentence pool, loaded on first use and picked by model.

A model's usage is counted in its own encoding (``o200k_base`` for GPT-4o and later,
``cl100k_base`` for GPT-4; :func:`~mockllm.reply_engine.tokens.encoding_for_model`).
Loading an encoding (its BPE ranks, then a :class:`TextGenerator` pool split with it)
takes about half a second, so :class:`Lexicons` loads each one the first time a request
needs it, and once: apps that share a :class:`Lexicons` (the pytest plugin's do) share
the work, and a server that only sees GPT-4o never loads ``cl100k_base``. The
encoding of each model name is looked up once and remembered.

When the BPE data is missing every encoding loads as the same approximation, and all
of them share one pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..memo import keep
from .textgen import TextGenerator
from .tokens import MemoTokenizer, ModelEncodings, Tokenizer, load_tokenizer

__all__ = ["Lexicon", "Lexicons"]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """One encoding: its tokenizer, a memo of its counts, text split into its tokens, and
    the candidate tokens of ``top_logprobs`` alternatives (the pool's words, spaced)."""

    tokenizer: Tokenizer
    counter: MemoTokenizer
    text: TextGenerator
    alternatives: tuple[str, ...]

    @classmethod
    def build(cls, tokenizer: Tokenizer) -> Lexicon:
        """A lexicon over Faker's English words, split with ``tokenizer``."""
        text = TextGenerator.english(tokenizer)
        return cls(
            tokenizer, MemoTokenizer(tokenizer), text, tuple(" " + word for word in text.vocabulary)
        )


class Lexicons:
    """The lexicon of each encoding, built on first use (module docstring). Thread-safe:
    the pytest plugin's background server and its per-test apps share one."""

    def __init__(
        self, load: Callable[[str], Tokenizer] = load_tokenizer, *, models: int = 1024
    ) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._by_encoding: dict[str, Lexicon] = {}
        self._by_model: dict[str, Lexicon] = {}
        self._encodings = ModelEncodings()
        self._models = models

    def for_model(self, model: str) -> Lexicon:
        """The lexicon of ``model``'s encoding."""
        found = self._by_model.get(model)
        if found is None:
            # Clients may send any model name: the table is bounded.
            found = keep(
                self._by_model,
                model,
                self.for_encoding(self._encodings.encoding(model)),
                self._models,
            )
        return found

    def for_encoding(self, encoding: str) -> Lexicon:
        """The lexicon of ``encoding``, loading it the first time."""
        found = self._by_encoding.get(encoding)
        if found is not None:
            return found
        with self._lock:
            found = self._by_encoding.get(encoding)
            if found is None:
                tokenizer = self._load(encoding)
                # The approximation stands in for every encoding: build its pool once.
                found = next(
                    (
                        lexicon
                        for lexicon in self._by_encoding.values()
                        if lexicon.tokenizer.name == tokenizer.name
                    ),
                    None,
                )
                found = found or Lexicon.build(tokenizer)
                self._by_encoding[encoding] = found
            return found
