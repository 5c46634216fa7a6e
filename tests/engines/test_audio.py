"""Every audio format decodes with real decoders to the requested length, 24 kHz mono."""

from __future__ import annotations

import hashlib
import io
import random
import sys

import av
import numpy as np
import pytest
import soundfile as sf

from mockllm.reply_engine.audio import AUDIO_FORMATS, SAMPLE_RATE, duration_for_text, encode_audio

DURATIONS = (0.5, 1.37, 4.0)

# How much longer than requested a decoded file may be: the last frame, plus the delay
# the encoder adds in front (AAC's 1024 priming samples; LAME's 576 plus the decoder's
# 529, which MP3 has no standard way to signal). Opus signals its delay (pre-skip).
FRAME_SECONDS = {"aac": (1024 + 1024) / 24_000, "mp3": (576 + 576 + 529) / 24_000}

# The sample rate ffmpeg decodes to: its Opus decoder always runs at 48 kHz (the rate
# OpusHead declares as the input rate is checked through libsndfile below).
AV_RATE = {"opus": 48_000}

# The formats libsndfile reads (it has no AAC support; raw PCM is read separately).
SOUNDFILE_FORMATS = ("flac", "mp3", "opus", "wav")

# The formats written by this module itself (the rest by real encoders).
TONE_FORMATS = ("flac", "pcm16", "wav")
# The signal's RMS is about 0.02 of full scale (quiet speech); silence is 0.
AUDIBLE_RMS = 0.005


def encode(fmt: str, duration: float, seed: int = 7) -> bytes:
    return encode_audio(fmt, duration, random.Random(seed))


def assert_duration(fmt: str, seconds: float, requested: float) -> None:
    slack = max(0.05 * requested, FRAME_SECONDS.get(fmt, 0.02))
    assert abs(seconds - requested) <= slack, (fmt, seconds, requested)


def decode_with_ffmpeg(data: bytes) -> tuple[np.ndarray, int]:
    """Every sample of the file as floats in [-1, 1], and the rate ffmpeg decoded at."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
    samples = []
    for frame in frames:
        values = frame.to_ndarray().reshape(-1).astype(np.float64)
        samples.append(values / 32768 if frame.format.name.startswith("s16") else values)
    return np.concatenate(samples), frames[0].sample_rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency of the first second (1 Hz bins)."""
    return float(np.argmax(np.abs(np.fft.rfft(samples[:rate]))))


def read_pcm16(data: bytes) -> tuple:
    return sf.read(
        io.BytesIO(data), samplerate=SAMPLE_RATE, channels=1, format="RAW",
        subtype="PCM_16", endian="LITTLE", dtype="int16",
    )  # fmt: skip


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("fmt", [f for f in AUDIO_FORMATS if f != "pcm16"])
def test_ffmpeg_decodes_every_container_to_the_requested_length(fmt: str, duration: float) -> None:
    with av.open(io.BytesIO(encode(fmt, duration))) as container:
        stream = container.streams.audio[0]
        # Make ffmpeg fail on checksum and bitstream errors instead of concealing them.
        stream.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
        frames = list(container.decode(stream))
    assert frames
    rate = AV_RATE.get(fmt, SAMPLE_RATE)
    assert {f.sample_rate for f in frames} == {rate}
    assert {len(f.layout.channels) for f in frames} == {1}
    assert_duration(fmt, sum(f.samples for f in frames) / rate, duration)


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("fmt", SOUNDFILE_FORMATS)
def test_libsndfile_reads_the_file(fmt: str, duration: float) -> None:
    data = encode(fmt, duration)
    info = sf.info(io.BytesIO(data))
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert (rate, info.channels) == (SAMPLE_RATE, 1)
    assert_duration(fmt, len(samples) / rate, duration)


@pytest.mark.parametrize("duration", DURATIONS)
def test_pcm16_is_two_bytes_per_sample_and_the_same_samples_as_wav_and_flac(
    duration: float,
) -> None:
    raw = encode("pcm16", duration)
    assert len(raw) % 2 == 0
    assert_duration("pcm16", len(raw) / 2 / SAMPLE_RATE, duration)
    samples, _ = read_pcm16(raw)
    for fmt in ("wav", "flac"):
        decoded, _ = sf.read(io.BytesIO(encode(fmt, duration)), dtype="int16")
        assert decoded.tobytes() == samples.tobytes(), fmt


def test_flac_streaminfo_records_the_sample_count_and_md5_of_the_audio() -> None:
    data = encode("flac", 2.3)
    decoded, _ = sf.read(io.BytesIO(data), dtype="int16")
    # fLaC, a 4-byte block header, then STREAMINFO: 18 bytes of fields and the MD5.
    streaminfo = data[8:42]
    total_samples = int.from_bytes(streaminfo[13:18], "big") & ((1 << 36) - 1)
    assert total_samples == len(decoded)
    assert streaminfo[18:] == hashlib.md5(decoded.astype("<i2").tobytes()).digest()


@pytest.mark.parametrize("fmt", TONE_FORMATS)
def test_tone_formats_carry_a_quiet_signal_not_silence(fmt: str) -> None:
    data = encode(fmt, 1.0)
    samples = read_pcm16(data)[0] if fmt == "pcm16" else sf.read(io.BytesIO(data), dtype="int16")[0]
    peak = int(abs(samples.astype("int32")).max())
    assert 0 < peak < 32767 // 8


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_same_rng_state_gives_the_same_bytes(fmt: str) -> None:
    assert encode(fmt, 1.5, seed=3) == encode(fmt, 1.5, seed=3)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_different_seeds_give_different_files(fmt: str) -> None:
    assert len({encode(fmt, 1.5, seed=s) for s in range(5)}) > 1


@pytest.mark.parametrize("duration", (1.0, 6.4))
@pytest.mark.parametrize("fmt", [f for f in AUDIO_FORMATS if f != "pcm16"])
def test_every_format_carries_the_same_audible_signal(fmt: str, duration: float) -> None:
    reference, _ = decode_with_ffmpeg(encode("wav", duration))
    samples, rate = decode_with_ffmpeg(encode(fmt, duration))
    assert rms(samples) > AUDIBLE_RMS, fmt
    # Perceptual coding keeps the loudness of the signal within a few per cent.
    assert rms(samples) == pytest.approx(rms(reference), rel=0.1), fmt
    assert_duration(fmt, len(samples) / rate, duration)
    # The same hum: the strongest frequency is the reference's.
    assert abs(peak_hz(samples, rate) - peak_hz(reference, SAMPLE_RATE)) <= 4, fmt


@pytest.mark.parametrize("fmt", ["aac", "mp3", "opus"])
def test_without_the_encoder_package_the_file_is_silent_but_valid(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lameenc", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "av", None)
    data = encode(fmt, 2.0)
    monkeypatch.undo()
    samples, rate = decode_with_ffmpeg(data)
    assert rms(samples) == 0
    assert_duration(fmt, len(samples) / rate, 2.0)


def test_unknown_format_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="wav"):
        encode_audio("ogg", 1.0, random.Random(0))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("", 0.5, 0.5),
        ("Hi.", 0.5, 0.5),
        (" ".join(["word"] * 150), 59.0, 61.0),  # 150 words a minute
        (" ".join(["word"] * 25), 9.5, 10.5),
        ("今天天气很好我们去公园散步吧" * 5, 4.0, 6.0),  # 70 characters, no spaces
    ],
)
def test_duration_for_text_follows_a_speaking_rate(text: str, low: float, high: float) -> None:
    assert low <= duration_for_text(text) <= high
