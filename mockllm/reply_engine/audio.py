"""Real, decodable audio files of a given length that carry one audible seeded signal.

The chat completions API returns speech as a base64 file in the format the request
asked for (``audio.format``): 24 kHz mono for every format. mockllm cannot speak, but
clients decode, play and measure what they get, so each file here is a valid stream
that real decoders (ffmpeg, libsndfile) accept, that lasts about as long as the
transcript would take to say, and that carries the same signal in every format:

=========  ==========================================================  =================
format     container and coding                                        written by
=========  ==========================================================  =================
``wav``    RIFF/WAVE, 16-bit PCM                                        this module
``pcm16``  raw little-endian 16-bit samples, no header                 this module
``flac``   native FLAC, verbatim subframes, STREAMINFO with MD5        this module
``mp3``    MPEG-2 Layer III (the 24 kHz "LSF" rate), 40 kbit/s CBR     LAME (``lameenc``)
``opus``   Opus in Ogg, 20 ms frames, 24 kbit/s                        libopus (PyAV)
``aac``    AAC-LC in ADTS frames, 24 kbit/s                            FFmpeg (PyAV)
=========  ==========================================================  =================

The signal is a quiet hum (peaks near -23 dBFS) whose pitch and syllable-like
loudness envelope follow the seed. ``lameenc`` is a dependency; PyAV is the
``audio`` extra: without it ``opus`` and ``aac`` carry digital silence in complete
frames that decode to the right number of samples, as ``mp3`` does without
``lameenc``. Durations are whole 20 ms
units; the perceptual codecs add their encoder delay (MP3 and AAC, under 0.1 s) or
signal it (Opus's pre-skip), so a decoder sees the length within a frame or two.
The encoders run bit-exact, so the same seed gives the same bytes.

Speed: the signal is made of a handful of 20 ms units computed once per call and
repeated, and the FLAC checksums are combined from the per-unit checksums with
polynomial arithmetic instead of being recomputed over every byte, so a few seconds
of audio cost about a millisecond in wav, pcm16 and flac. The encoders cost more
(about 2 ms per second of audio for MP3 and Opus, 5 ms for AAC) and are set for
speed (LAME quality 7, Opus complexity 0, FFmpeg's fast AAC coder).
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "AUDIO_FORMATS",
    "CHANNELS",
    "SAMPLE_RATE",
    "duration_for_text",
    "encode_audio",
]

SAMPLE_RATE = 24_000
"""Samples per second of every file, as the chat completions API returns them."""

CHANNELS = 1
"""Every file is mono."""

AUDIO_FORMATS: tuple[str, ...] = ("aac", "flac", "mp3", "opus", "pcm16", "wav")
"""The values of ``audio.format`` that :func:`encode_audio` writes."""

_UNIT = 480  # samples in one 20 ms unit: the granularity of every duration
_WORDS_PER_SECOND = 2.5  # 150 words a minute, a typical speaking rate
_CHARS_PER_SECOND = 14.0  # the same rate for text without spaces (CJK and the like)
_MIN_SECONDS = 0.5


def duration_for_text(text: str) -> float:
    """Seconds it takes to say ``text`` at about 150 words a minute (at least 0.5 s).

    Text without spaces (Chinese, Japanese) is timed by its characters instead, so it
    does not collapse to a single "word". There is no upper bound: callers that want
    one apply it.
    """
    words = len(text.split())
    chars = len("".join(text.split()))
    return max(_MIN_SECONDS, words / _WORDS_PER_SECOND, chars / _CHARS_PER_SECOND)


def encode_audio(fmt: str, duration_s: float, rng: random.Random) -> bytes:
    """A complete ``fmt`` file of about ``duration_s`` seconds, 24 kHz mono.

    ``fmt`` is one of :data:`AUDIO_FORMATS`; anything else raises ``ValueError``.
    The bytes depend only on the arguments and the state of ``rng``.
    """
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise ValueError(
            f"unknown audio format {fmt!r}; expected one of {', '.join(AUDIO_FORMATS)}"
        )
    units = max(1, round(duration_s * SAMPLE_RATE / _UNIT))
    return writer(units, rng)


# --- bits and checksums -------------------------------------------------------------


def _pack_bits(fields: Iterable[tuple[int, int]]) -> bytes:
    """``(value, width)`` pairs packed most significant bit first, zero-padded to a byte.

    Every header here (ADTS, MPEG audio, FLAC) is specified as such a bit list, so
    writing them this way keeps the code next to the specification's tables.
    """
    acc = 0
    nbits = 0
    for value, width in fields:
        acc = (acc << width) | (value & ((1 << width) - 1))
        nbits += width
    pad = -nbits % 8
    return (acc << pad).to_bytes((nbits + pad) // 8, "big")


@dataclass(frozen=True, slots=True)
class _Crc:
    """A most-significant-bit-first CRC with a zero initial value and no final xor.

    FLAC's CRC-8 (poly 0x07) and CRC-16 (poly 0x8005) and Ogg's CRC-32 (poly
    0x04C11DB7) are all of this kind; zlib's CRC-32 is the bit-reversed variant and
    gives different values, hence this class. Because such a CRC is the message
    polynomial times x^width modulo the generator, the CRC of a concatenation can be
    combined from the CRCs of its parts (:meth:`extend`), which is what keeps FLAC
    fast in pure Python.
    """

    width: int
    poly: int
    table: tuple[int, ...]

    @classmethod
    def make(cls, width: int, poly: int) -> _Crc:
        """The CRC of ``width`` bits with generator ``poly`` (without its top bit)."""
        top = 1 << (width - 1)
        mask = (1 << width) - 1
        table = []
        for byte in range(256):
            reg = byte << (width - 8)
            for _ in range(8):
                reg = ((reg << 1) ^ poly) & mask if reg & top else (reg << 1) & mask
            table.append(reg)
        return cls(width, poly, tuple(table))

    def compute(self, data: bytes, crc: int = 0) -> int:
        """The CRC of ``data``, continuing from the register value ``crc``."""
        table = self.table
        shift = self.width - 8
        mask = (1 << self.width) - 1
        for byte in data:
            crc = ((crc << 8) & mask) ^ table[((crc >> shift) ^ byte) & 0xFF]
        return crc

    def multiply(self, a: int, b: int) -> int:
        """``a * b`` modulo the generator, both as polynomials over GF(2)."""
        width = self.width
        full = (1 << width) | self.poly
        result = 0
        for i in range(width - 1, -1, -1):
            result <<= 1
            if result >> width:
                result ^= full
            if (b >> i) & 1:
                result ^= a
        return result

    def shifter(self, nbytes: int) -> int:
        """x^(8 * nbytes) modulo the generator: the factor that moves a CRC past ``nbytes``."""
        result, base, exp = 1, 2, 8 * nbytes
        while exp:
            if exp & 1:
                result = self.multiply(result, base)
            base = self.multiply(base, base)
            exp >>= 1
        return result

    def extend(self, crc_a: int, crc_b: int, shifter_b: int) -> int:
        """The CRC of ``a + b`` from the CRCs of both parts and ``shifter(len(b))``."""
        return self.multiply(crc_a, shifter_b) ^ crc_b


_CRC8 = _Crc.make(8, 0x07)
_CRC16 = _Crc.make(16, 0x8005)
_CRC32 = _Crc.make(32, 0x04C11DB7)


# --- the signal -----------------------------------------------------------------------

_LEVELS = (0, 500, 1000, 1600, 2200)  # peak amplitudes out of 32767: a quiet voice-like hum


@dataclass(frozen=True, slots=True)
class _Signal:
    """A sequence of 20 ms units, each one of a few precomputed loudness levels.

    ``units`` holds the level index of each unit and ``level_samples`` the samples of
    one unit at each level. Every unit starts and ends on a zero crossing of the tone,
    so switching levels between units does not click.
    """

    units: tuple[int, ...]
    level_samples: tuple[array[int], ...]

    @classmethod
    def seeded(cls, count: int, rng: random.Random) -> _Signal:
        """``count`` units with a seeded pitch and a seeded syllable envelope."""
        # A whole number of periods per unit: multiples of 50 Hz, 150-350 Hz like a voice.
        pitch = 50 * rng.randint(3, 7)
        step = 2 * math.pi * pitch / SAMPLE_RATE
        shape = [math.sin(step * i) + 0.4 * math.sin(2 * step * i) for i in range(_UNIT)]
        peak = max(abs(v) for v in shape)
        level_samples = tuple(
            array("h", [round(level * v / peak) for v in shape]) for level in _LEVELS
        )
        return cls(_syllables(count, rng), level_samples)

    @property
    def sample_count(self) -> int:
        """Samples in the whole signal."""
        return len(self.units) * _UNIT

    def unit_bytes(self, byteorder: str) -> tuple[bytes, ...]:
        """The bytes of one unit at each level, 16-bit samples in ``byteorder``."""
        out = []
        for samples in self.level_samples:
            if byteorder != sys.byteorder:
                samples = array("h", samples)
                samples.byteswap()
            out.append(samples.tobytes())
        return tuple(out)

    def pcm(self, byteorder: str = "little") -> bytes:
        """All samples as 16-bit integers in ``byteorder``."""
        blocks = self.unit_bytes(byteorder)
        return b"".join([blocks[u] for u in self.units])


def _syllables(count: int, rng: random.Random) -> tuple[int, ...]:
    """Level indexes for ``count`` units: rising and falling syllables between pauses."""
    top = len(_LEVELS) - 1
    units: list[int] = []
    while len(units) < count:
        peak = rng.randint(2, top)
        rise = list(range(1, peak + 1))
        units += rise + [peak] * rng.randint(0, 4) + rise[::-1]
        units += [0] * rng.choice((1, 1, 2, 6))  # short gaps inside words, longer between
    return tuple(units[:count])


# --- the formats ----------------------------------------------------------------------


def _write_pcm16(units: int, rng: random.Random) -> bytes:
    """Raw little-endian samples, as ``pcm16`` is defined."""
    return _Signal.seeded(units, rng).pcm("little")


def _write_wav(units: int, rng: random.Random) -> bytes:
    """A canonical 44-byte RIFF/WAVE header followed by the samples."""
    data = _Signal.seeded(units, rng).pcm("little")
    block_align = 2 * CHANNELS
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(data), b"WAVE",
        b"fmt ", 16, 1, CHANNELS, SAMPLE_RATE, SAMPLE_RATE * block_align, block_align, 16,
        b"data", len(data),
    )  # fmt: skip
    return header + data


_FLAC_UNITS_PER_FRAME = 8  # 3840 samples: within the 4608 the streamable subset allows


def _write_flac(units: int, rng: random.Random) -> bytes:
    """Native FLAC: STREAMINFO (with the MD5 of the samples) and verbatim frames."""
    signal = _Signal.seeded(units, rng)
    block = _FLAC_UNITS_PER_FRAME * _UNIT
    total = signal.sample_count
    pcm_le = signal.pcm("little")
    streaminfo = (
        _pack_bits(
            [
                (min(block, total), 16),  # min block size (the last frame is exempt)
                (min(block, total), 16),  # max block size
                (0, 24),  # min frame size: unknown is allowed
                (0, 24),  # max frame size
                (SAMPLE_RATE, 20),
                (CHANNELS - 1, 3),
                (16 - 1, 5),  # bits per sample
                (total, 36),
            ]
        )
        + hashlib.md5(pcm_le).digest()
    )
    # Metadata block header: last-block flag, type 0 (STREAMINFO), length.
    out = [b"fLaC", _pack_bits([(1, 1), (0, 7), (len(streaminfo), 24)]), streaminfo]

    unit_be = signal.unit_bytes("big")
    # The frame CRC-16 is linear in the frame's bytes: the header's CRC moved past the
    # units, xored with each unit's CRC moved past the units that follow it. So the
    # per-unit contributions are computed once and a frame costs a few table lookups.
    past_unit = _CRC16.shifter(len(unit_be[0]))
    factors = [1]
    for _ in range(_FLAC_UNITS_PER_FRAME):
        factors.append(_CRC16.multiply(factors[-1], past_unit))
    unit_crcs = [_CRC16.compute(b) for b in unit_be]
    # placed[k][level]: a unit at that level followed by k more units in its frame.
    placed = [[_CRC16.multiply(c, f) for c in unit_crcs] for f in factors]
    levels = signal.units
    frame_start = _pack_bits(
        [
            (0b11111111111110, 14),  # frame sync
            (0, 1),  # reserved
            (0, 1),  # fixed block size: the header carries the frame number
            (0b0111, 4),  # block size: 16-bit (size - 1) after the number
            (0b0111, 4),  # sample rate: 24 kHz
            (0b0000, 4),  # one channel
            (0b100, 3),  # 16 bits per sample
            (0, 1),  # reserved
        ]
    )
    for number, start in enumerate(range(0, len(levels), _FLAC_UNITS_PER_FRAME)):
        frame_units = levels[start : start + _FLAC_UNITS_PER_FRAME]
        header = (
            frame_start + _flac_number(number) + (len(frame_units) * _UNIT - 1).to_bytes(2, "big")
        )
        header += bytes([_CRC8.compute(header)])
        # Subframe header: zero pad bit, type VERBATIM (000001), no wasted bits.
        head = header + b"\x02"
        crc = _CRC16.multiply(_CRC16.compute(head), factors[len(frame_units)])
        for k, u in enumerate(reversed(frame_units)):
            crc ^= placed[k][u]
        out.append(head)
        out.extend(unit_be[u] for u in frame_units)
        out.append(crc.to_bytes(2, "big"))
    return b"".join(out)


def _flac_number(n: int) -> bytes:
    """A frame number in FLAC's UTF-8-like variable-length coding (up to 36 bits)."""
    if n < 0x80:
        return bytes([n])
    tail = []
    while True:
        tail.append(0x80 | (n & 0x3F))
        n >>= 6
        # The lead byte has (len(tail) + 1) ones, a zero, then room for the rest.
        room = 6 - len(tail)
        if n < (1 << room):
            lead = (0xFF << (7 - len(tail))) & 0xFF
            return bytes([lead | n, *reversed(tail)])


_MP3_FRAME_SAMPLES = 576  # MPEG-2 Layer III: one granule of 576 samples per frame
_MP3_BITRATE_INDEX = 4  # 32 kbit/s in the MPEG-2 table
_MP3_FRAME_BYTES = 72 * 32_000 // SAMPLE_RATE  # 96: 72 * bitrate / rate for MPEG-2 Layer III
# LAME's bitrate: from 40 kbit/s on it keeps 24 kHz (at 32 it resamples to 22.05 kHz).
_LAME_KBPS = 40


def _write_mp3(units: int, rng: random.Random) -> bytes:
    """The signal coded by LAME, or silent frames when ``lameenc`` is missing."""
    signal = _Signal.seeded(units, rng)
    try:
        import lameenc
    except ImportError:
        return _silent_mp3(units)
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(SAMPLE_RATE)
    encoder.set_channels(CHANNELS)
    encoder.set_bit_rate(_LAME_KBPS)
    encoder.set_quality(7)  # fast; a hum needs no better
    return bytes(encoder.encode(signal.pcm(sys.byteorder)) + encoder.flush())


def _silent_mp3(units: int) -> bytes:
    """Silent MPEG-2 Layer III frames: zeroed side information and no main data."""
    header = _pack_bits(
        [
            (0x7FF, 11),  # frame sync
            (0b10, 2),  # MPEG-2 (the low sample rate extension)
            (0b01, 2),  # Layer III
            (1, 1),  # no CRC
            (_MP3_BITRATE_INDEX, 4),
            (0b01, 2),  # 24 kHz in MPEG-2
            (0, 1),  # no padding: 96 bytes is exact
            (0, 1),  # private
            (0b11, 2),  # single channel
            (0, 2),  # mode extension
            (0, 1),  # not copyrighted
            (1, 1),  # original
            (0, 2),  # no emphasis
        ]
    )
    # Mono MPEG-2 side information is 9 bytes; all zero means part2_3_length 0 (no
    # Huffman data) and big_values 0, which every decoder turns into silence.
    frame = header + bytes(_MP3_FRAME_BYTES - len(header))
    return frame * _frames(units, _MP3_FRAME_SAMPLES)


_AAC_FRAME_SAMPLES = 1024


def _write_aac(units: int, rng: random.Random) -> bytes:
    """The signal coded by FFmpeg's AAC-LC encoder in ADTS, or silence without PyAV."""
    coded = _ffmpeg(
        _Signal.seeded(units, rng),
        "adts",
        "aac",
        {"aac_coder": "fast", "aac_pns": "0", "aac_tns": "0"},
    )
    return coded if coded is not None else _silent_aac(units)


def _silent_aac(units: int) -> bytes:
    """Silent AAC-LC in ADTS: one empty single-channel element per frame."""
    payload = _pack_bits(
        [
            (0, 3),  # ID_SCE
            (0, 4),  # element instance tag
            (100, 8),  # global gain (irrelevant: no scale factor bands follow)
            (0, 1),  # ics_reserved_bit
            (0, 2),  # ONLY_LONG_SEQUENCE
            (0, 1),  # sine window
            (0, 6),  # max_sfb 0: no sections, scale factors or spectral data
            (0, 1),  # no predictor
            (0, 1),  # no pulse data
            (0, 1),  # no TNS
            (0, 1),  # no gain control
            (0b111, 3),  # ID_END
        ]
    )
    header = _pack_bits(
        [
            (0xFFF, 12),  # sync
            (0, 1),  # MPEG-4
            (0, 2),  # layer
            (1, 1),  # no CRC
            (1, 2),  # profile: AAC LC (object type 2, minus one)
            (6, 4),  # sampling frequency index 6: 24 kHz
            (0, 1),  # private
            (CHANNELS, 3),  # channel configuration
            (0, 1),  # original/copy
            (0, 1),  # home
            (0, 1),  # copyright id bit
            (0, 1),  # copyright id start
            (7 + len(payload), 13),  # frame length, header included
            (0x7FF, 11),  # buffer fullness: variable bit rate
            (0, 2),  # one raw data block
        ]
    )
    return (header + payload) * _frames(units, _AAC_FRAME_SAMPLES)


_OPUS_RATE = 48_000  # Ogg Opus granule positions always count 48 kHz samples
_OPUS_PACKET_SAMPLES = 960  # 20 ms at 48 kHz
_OPUS_PRE_SKIP = 312  # what libopus encoders declare; the decoder drops these samples
# TOC 0xF8: config 31 (CELT-only, fullband, 20 ms), mono, one frame; then a two-byte
# range-coded frame whose silence flag is set. This is the packet encoders emit for
# digital silence.
_OPUS_SILENCE = b"\xf8\xff\xfe"
_OGG_PACKETS_PER_PAGE = 50  # one second per page


def _write_opus(units: int, rng: random.Random) -> bytes:
    """The signal coded by libopus in Ogg, or silence without PyAV."""
    coded = _ffmpeg(_Signal.seeded(units, rng), "ogg", "libopus", {"compression_level": "0"})
    return coded if coded is not None else _silent_opus(units, rng)


def _silent_opus(units: int, rng: random.Random) -> bytes:
    """Silent Opus in Ogg: OpusHead, OpusTags, then pages of 20 ms packets."""
    serial = rng.getrandbits(32)
    samples_48k = units * _UNIT * (_OPUS_RATE // SAMPLE_RATE)
    # Enough packets to cover the pre-skip too; the last granule position trims the end.
    packets = -(-(samples_48k + _OPUS_PRE_SKIP) // _OPUS_PACKET_SAMPLES)
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, CHANNELS, _OPUS_PRE_SKIP, SAMPLE_RATE, 0, 0)
    vendor = b"mockllm"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    full_page = _OggBody.of([_OPUS_SILENCE] * _OGG_PACKETS_PER_PAGE)
    pages = [
        _ogg_page(serial, 0, 0, _OggBody.of([head]), _OGG_BOS),
        _ogg_page(serial, 1, 0, _OggBody.of([tags]), 0),
    ]
    sequence = 2
    for first in range(0, packets, _OGG_PACKETS_PER_PAGE):
        count = min(_OGG_PACKETS_PER_PAGE, packets - first)
        if first + count < packets:
            granule = (first + count) * _OPUS_PACKET_SAMPLES
            pages.append(_ogg_page(serial, sequence, granule, full_page, 0))
        else:
            body = _OggBody.of([_OPUS_SILENCE] * count)
            granule = samples_48k + _OPUS_PRE_SKIP
            pages.append(_ogg_page(serial, sequence, granule, body, _OGG_EOS))
        sequence += 1
    return b"".join(pages)


_OGG_BOS = 0x02  # header type flag: first page of the stream
_OGG_EOS = 0x04  # header type flag: last page of the stream


@dataclass(frozen=True, slots=True)
class _OggBody:
    """The segment table and packets of an Ogg page, with their CRC worked out once.

    Pages of the same packets differ only in their header fields, so the page CRC is
    the header's CRC moved past the body, xored with the body's CRC.
    """

    segments: bytes
    data: bytes
    crc: int
    shifter: int

    @classmethod
    def of(cls, packets: Sequence[bytes]) -> _OggBody:
        """The body holding whole ``packets`` (each under 255 * 255 bytes)."""
        lacing = bytearray()
        for packet in packets:
            lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
        segments, data = bytes(lacing), b"".join(packets)
        return cls(
            segments, data, _CRC32.compute(segments + data), _CRC32.shifter(len(lacing) + len(data))
        )


def _ogg_page(serial: int, sequence: int, granule: int, body: _OggBody, flags: int) -> bytes:
    """One Ogg page: the 27-byte header with its CRC, the segment table, the packets."""
    header = struct.pack(
        "<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(body.segments)
    )
    crc = _CRC32.extend(_CRC32.compute(header), body.crc, body.shifter)
    return header[:22] + crc.to_bytes(4, "little") + header[26:] + body.segments + body.data


_CODED_BIT_RATE = 24_000  # Opus and AAC: speech quality, and the encoders stay quick


def _ffmpeg(
    signal: _Signal,
    container: str,
    codec: str,
    options: Mapping[str, str],
) -> bytes | None:
    """``signal`` coded by FFmpeg's ``codec`` in ``container`` through PyAV, bit-exact (no
    random stream serial, no version tags); None when PyAV is not installed."""
    try:
        import av
    except ImportError:
        return None
    pcm = signal.pcm(sys.byteorder)
    frame = av.AudioFrame(format="s16", layout="mono", samples=signal.sample_count)
    frame.planes[0].update(pcm)
    frame.sample_rate = SAMPLE_RATE
    frame.pts = 0
    out = io.BytesIO()
    with av.open(out, "w", format=container, options={"fflags": "+bitexact"}) as muxer:
        stream = muxer.add_stream(
            codec, rate=SAMPLE_RATE, layout="mono", options={"flags": "+bitexact", **options}
        )
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = _CODED_BIT_RATE
        for packet in stream.encode(frame):
            muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()


def _frames(units: int, frame_samples: int) -> int:
    """Whole codec frames closest to the length of ``units`` 20 ms units (at least one)."""
    return max(1, round(units * _UNIT / frame_samples))


_WRITERS: Mapping[str, Callable[[int, random.Random], bytes]] = MappingProxyType(
    {
        "aac": _write_aac,
        "flac": _write_flac,
        "mp3": _write_mp3,
        "opus": _write_opus,
        "pcm16": _write_pcm16,
        "wav": _write_wav,
    }
)
