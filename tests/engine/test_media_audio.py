"""engine.media.audio: real decoding of every container through PyAV, resampling, errors, WAV."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.api import MediaError
from engine.media.audio import (
    decode_audio,
    encode_wav_bytes,
    integrated_loudness,
    load_audio,
    probe_audio,
    write_wav,
)
from tests import media_fixtures as mf

SR = 48000
TONE_S = 2.0
LEAD = TAIL = 0.25
TOTAL = TONE_S + LEAD + TAIL


def peak_freq(x: np.ndarray, sr: int) -> float:
    mono = x.mean(axis=0) if x.ndim == 2 else x
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / sr)[int(np.argmax(spec))])


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("media")
    mf.tone_wav(
        d / "tone.wav", freq=1000, seconds=TONE_S, sr=SR, lead_silence=LEAD, tail_silence=TAIL
    )
    return d


FORMATS = {
    # suffix: (expected codec, expected channels)
    ".wav": ("pcm_s16le", 1),
    ".mp3": ("mp3", 1),
    ".m4a": ("aac", 1),
    ".aac": ("aac", 1),
    ".flac": ("flac", 1),
    ".ogg": ("vorbis", 2),  # the fixture upmixes: ffmpeg spreads mono at -3 dB per channel
    ".opus": ("opus", 1),
    ".mp4": ("aac", 1),
    ".mov": ("aac", 1),
    ".mkv": ("aac", 1),
}


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_decodes_every_format(media: Path, suffix: str) -> None:
    src = media / "tone.wav"
    path = src if suffix == ".wav" else mf.encode_audio(src, media / f"tone{suffix}")
    codec, channels = FORMATS[suffix]
    info = probe_audio(path)
    assert info.codec.startswith(codec)
    assert info.channels == channels
    x, sr = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == channels
    assert sr == info.sample_rate
    # codec priming/padding adds at most a few frames
    assert abs(x.shape[1] / sr - TOTAL) < 0.1
    assert np.abs(x).max() <= 1.0
    assert abs(peak_freq(x, sr) - 1000) < 5
    # the tone sits where it was written: quiet lead, loud middle
    lead = np.abs(x[:, : int(0.2 * sr)]).max()
    middle = np.abs(x[:, int(1.0 * sr) : int(1.5 * sr)]).max()
    level = 0.5 / np.sqrt(2) if channels == 2 else 0.5
    assert lead < 0.05 and abs(middle - level) < 0.05


def test_mp4_with_video_stream_gives_its_audio(media: Path) -> None:
    import av

    path = mf.encode_audio(media / "tone.wav", media / "clip_video.mp4")
    with av.open(str(path)) as c:
        assert {s.type for s in c.streams} == {"audio", "video"}
    x, sr = load_audio(path, target_sr=16000, mono=True)
    assert x.shape[0] == 1 and sr == 16000
    assert abs(peak_freq(x, sr) - 1000) < 5


@pytest.mark.parametrize(("src_sr", "dst_sr"), [(44100, 16000), (16000, 48000), (48000, 22050)])
def test_resampling_keeps_pitch_length_and_level(tmp_path: Path, src_sr: int, dst_sr: int) -> None:
    path = mf.tone_wav(
        tmp_path / "t.wav", freq=1000, seconds=2, sr=src_sr, lead_silence=0, tail_silence=0
    )
    x, sr = load_audio(path, target_sr=dst_sr)
    assert sr == dst_sr
    assert abs(x.shape[1] - 2 * dst_sr) <= dst_sr // 100
    assert abs(peak_freq(x, sr) - 1000) < 3
    # amplitude survives resampling (away from the edges)
    mid = x[0, dst_sr // 2 : 3 * dst_sr // 2]
    assert abs(np.abs(mid).max() - 0.5) < 0.02
    # a clean resampler leaves almost no energy away from 1 kHz
    spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid)))) ** 2
    freqs = np.fft.rfftfreq(len(mid), 1 / sr)
    off = spec[np.abs(freqs - 1000) > 50].sum() / spec.sum()
    assert off < 1e-3


def test_mono_averages_channels(tmp_path: Path) -> None:
    left = mf.tone_signal(440, 1, 16000, 1, 0.4, 0, 0)[0]
    stereo = np.stack([left, np.zeros_like(left)])
    path = mf.write_wav(tmp_path / "st.wav", stereo, 16000)
    x, _ = load_audio(path)
    assert x.shape[0] == 2
    m, _ = load_audio(path, mono=True)
    assert m.shape[0] == 1
    np.testing.assert_allclose(m[0], x.mean(axis=0), atol=1e-6)
    assert abs(np.abs(m).max() - 0.2) < 0.01


# ----------------------------------------------------------------------------- errors


def _error(path: Path, **kw: object) -> MediaError:
    with pytest.raises(MediaError) as info:
        load_audio(path, **kw)
    err = info.value
    assert err.path == path
    assert path.name in str(err)
    return err


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.wav").problem


def test_zero_byte_file(tmp_path: Path) -> None:
    assert "empty" in _error(mf.empty_file(tmp_path / "empty.mp3")).problem


def test_text_file_named_wav(tmp_path: Path) -> None:
    err = _error(mf.text_file(tmp_path / "notes.wav"))
    assert "not an audio file" in err.problem


def test_image_has_no_audio_stream(tmp_path: Path) -> None:
    err = _error(mf.no_face_image(tmp_path / "picture.png"))
    assert "no audio stream" in err.problem


def test_truncated_mp3(media: Path, tmp_path: Path) -> None:
    mp3 = mf.encode_audio(media / "tone.wav", tmp_path / "full.mp3")
    cut = mf.truncated_copy(mp3, tmp_path / "cut.mp3", 0.3)
    err = _error(cut)
    assert "truncated" in err.problem and "declared" in err.problem
    # asked for explicitly, what could be decoded comes back, flagged
    res = decode_audio(cut, allow_truncated=True)
    assert res.truncated and 0.3 < res.decoded_duration_s < 1.5
    assert res.declared_duration_s is not None and res.declared_duration_s > 2.0


def test_truncated_flac_and_wav(media: Path, tmp_path: Path) -> None:
    flac = mf.encode_audio(media / "tone.wav", tmp_path / "full.flac")
    assert "truncated" in _error(mf.truncated_copy(flac, tmp_path / "cut.flac", 0.5)).problem
    wav = mf.truncated_copy(media / "tone.wav", tmp_path / "cut.wav", 0.5)
    assert "truncated" in _error(wav).problem


def test_hour_of_audio_rejected_from_header_quickly(tmp_path: Path) -> None:
    path = mf.hour_long_flac(tmp_path / "hour.flac")
    assert probe_audio(path).duration_s == pytest.approx(3600, abs=1)
    t0 = time.perf_counter()
    err = _error(path, max_duration_s=600)
    assert time.perf_counter() - t0 < 1.0
    assert "1 h" in err.problem and "10 min" in err.problem


def test_wav_header_claiming_an_hour_is_judged_by_its_content(tmp_path: Path) -> None:
    # A plausible size larger than the file: the file was cut off after 1 s, not an hour long.
    path = mf.hour_long_wav_header(tmp_path / "liar.wav")
    err = _error(path, max_duration_s=600)
    assert "too long" not in err.problem
    assert "truncated" in err.problem and "only 1.0 s of the declared 1 h" in err.problem
    assert probe_audio(path).duration_s == pytest.approx(1.0, abs=0.01)
    assert decode_audio(path, allow_truncated=True).decoded_duration_s == pytest.approx(1.0)


@pytest.mark.parametrize("size", [0x7FFFFFFF, 0xFFFFFFFF, 0])
def test_wav_with_placeholder_sizes_decodes_by_content(tmp_path: Path, size: int) -> None:
    # Streaming writers leave these when they cannot seek back; at 22050 Hz mono 16-bit
    # 0x7FFFFFFF reads as "13 h 31 min". The 6 s in the file are what counts.
    src = mf.tone_wav(tmp_path / "six.wav", seconds=6, sr=22050, lead_silence=0, tail_silence=0)
    path = mf.bogus_size_wav(src, tmp_path / "streamed.wav", size)
    assert probe_audio(path).duration_s == pytest.approx(6.0, abs=0.01)
    res = decode_audio(path, max_duration_s=600)
    assert not res.truncated and res.declared_duration_s is None
    assert res.samples.shape[1] == 6 * 22050


def test_duration_limit_while_decoding_when_header_understates(tmp_path: Path) -> None:
    # ffmpeg's Vorbis encoder leaves an Ogg whose header declares far less than it holds,
    # so only the decoding loop can notice the limit.
    wav = mf.tone_wav(tmp_path / "long.wav", seconds=6, sr=16000, lead_silence=0, tail_silence=0)
    ogg = mf.encode_audio(wav, tmp_path / "long.ogg")
    declared = probe_audio(ogg).duration_s
    assert declared is not None and declared < 2.0, "precondition: header understates"
    err = _error(ogg, max_duration_s=2.0)
    assert "longer than 2.0 s" in err.problem
    x, _ = load_audio(ogg, max_duration_s=10)
    assert x.shape[1] / 16000 > 5.5


# ----------------------------------------------------------------------------- writing


def test_wav_roundtrip_pcm16_and_float(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.uniform(-0.9, 0.9, size=(2, 4000))).astype(np.float32)
    path = write_wav(tmp_path / "out" / "a.wav", x, 24000)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    y, sr = load_audio(path)
    assert sr == 24000 and y.shape == x.shape
    assert np.abs(y - x).max() < 1.5 / 32767
    f = write_wav(tmp_path / "f.wav", x, 24000, float32=True)
    z, _ = load_audio(f)
    np.testing.assert_array_equal(z, x)
    assert probe_audio(f).codec == "pcm_f32le"
    # mono 1-D input; out-of-range values are clipped, not wrapped
    b = encode_wav_bytes(np.array([2.0, -2.0, 0.0]), 8000)
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE"
    assert np.frombuffer(b[-6:], "<i2").tolist() == [32767, -32767, 0]


# ----------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("sr", [48000, 44100, 16000])
def test_bs1770_full_scale_sine(sr: int) -> None:
    t = np.arange(sr * 3) / sr
    x = np.sin(2 * np.pi * 1000 * t)
    assert integrated_loudness(x, sr) == pytest.approx(-3.01, abs=0.1)
    assert integrated_loudness(0.5 * x, sr) == pytest.approx(-9.03, abs=0.1)
    assert integrated_loudness(np.stack([x, x]) * 0.5, sr) == pytest.approx(-6.02, abs=0.1)
    # K-weighting: 100 Hz reads quieter than 1 kHz, 5 kHz louder
    assert integrated_loudness(np.sin(2 * np.pi * 100 * t), sr) < -3.5
    if sr > 16000:
        assert integrated_loudness(np.sin(2 * np.pi * 5000 * t), sr) > -2.0


def _ebu_stereo(levels_s: list[tuple[float, float]], sr: int = 48000) -> np.ndarray:
    """EBU Tech 3341 test signal: 1 kHz sine in both channels, (dBFS, seconds) per part."""
    parts = []
    for dbfs, seconds in levels_s:
        t = np.arange(int(round(seconds * sr))) / sr
        parts.append(10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000 * t))
    mono = np.concatenate(parts)
    return np.stack([mono, mono])


# EBU Tech 3341 (2016) table 1, cases 1-5, and what a BS.1770-4 meter must read.
EBU_CASES = [
    ([(-23.0, 20.0)], -23.0),
    ([(-33.0, 20.0)], -33.0),
    ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    ([(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
]


@pytest.mark.parametrize(("parts", "expected"), EBU_CASES)
def test_loudness_of_ebu_test_signals_equals_pyloudnorm(
    parts: list[tuple[float, float]], expected: float
) -> None:
    import pyloudnorm

    x = _ebu_stereo(parts)
    ours = integrated_loudness(x, 48000)
    assert ours == pytest.approx(expected, abs=0.1)  # the standard's tolerance
    assert ours == pytest.approx(pyloudnorm.Meter(48000).integrated_loudness(x.T), abs=1e-9)


def test_loudness_of_audio_shorter_than_a_block() -> None:
    sr = 16000
    x = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(int(0.2 * sr)) / sr)
    assert integrated_loudness(x, sr) == pytest.approx(-9.03, abs=0.2)


def test_bs1770_gating_ignores_silence() -> None:
    sr = 48000
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr * 10) / sr) * 0.5
    # silence twice as long as the tone, under very faint noise (below the -70 LUFS gate)
    quiet = np.random.default_rng(0).standard_normal(sr * 10) * 1e-5
    padded = np.concatenate([quiet, tone, quiet])
    # only the 400 ms blocks straddling the edges (6 of ~100) pull the level down a little
    assert integrated_loudness(padded, sr) == pytest.approx(integrated_loudness(tone, sr), abs=0.2)
    # without gating, the mean over the whole signal would be ~4.8 dB lower
    assert integrated_loudness(padded, sr) > integrated_loudness(tone, sr) - 1.0
    assert integrated_loudness(np.zeros(sr), sr) == float("-inf")


def test_media_modules_import_neither_torch_nor_qt() -> None:
    code = (
        "import sys, engine.media.audio, engine.media.image;"
        "bad = [m for m in ('torch', 'PySide6') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
