"""check_voice_clip on real files: tones with known levels, espeak-ng speech, bad inputs."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.media.audio import integrated_loudness
from idlora_studio.library.audio_checks import check_voice_clip
from idlora_studio.library.media_types import ImportRejected, VoiceImport
from tests import media_fixtures as mf


def read_wav(result: VoiceImport) -> tuple[np.ndarray, int]:
    data, sr = sf.read(io.BytesIO(result.wav), dtype="float64", always_2d=True)
    return data.T, sr


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("speech")
    return mf.speech_wav(
        d / "speech.wav",
        "Hello, my name is Alex and this is a short recording of my voice.",
        lead_silence=0.8,
        tail_silence=0.6,
    )


def rejected(path: Path, **kw: object) -> ImportRejected:
    with pytest.raises(ImportRejected) as info:
        check_voice_clip(path, **kw)
    err = info.value
    assert err.path == path and path.name in str(err)
    return err


# ----------------------------------------------------------------------------- tones


def test_trims_tone_with_silence_and_normalises(tmp_path: Path) -> None:
    path = mf.tone_wav(
        tmp_path / "tone.wav", freq=440, seconds=3, lead_silence=0.5, tail_silence=0.7
    )
    r = check_voice_clip(path, target_lufs=-23.0)
    start, end = r.trimmed_range
    # the tone spans 0.5..3.5 s; 0.15 s of margin is kept each side
    assert start == pytest.approx(0.35, abs=0.1)
    assert end == pytest.approx(3.65, abs=0.1)
    assert r.source_duration_s == pytest.approx(4.2, abs=0.01)
    assert r.duration_s == pytest.approx(end - start, abs=0.01)
    assert r.sample_rate == 48000 and r.channels == 1
    audio, sr = read_wav(r)
    assert sr == 48000 and audio.shape == (1, round(r.duration_s * sr))
    assert integrated_loudness(audio, sr) == pytest.approx(-23.0, abs=0.5)
    assert r.gain_db == pytest.approx(-23.0 - r.loudness_lufs, abs=0.01)
    assert not r.clipping and not r.noisy and r.warnings == ()
    assert len(r.peaks) == 400 and 0.0 <= min(r.peaks) and max(r.peaks) <= 1.0
    assert max(r.peaks) == pytest.approx(np.abs(audio).max(), abs=1e-3)


def test_loudness_of_known_tone(tmp_path: Path) -> None:
    # a 1 kHz sine at half scale is -9.03 LUFS by BS.1770
    path = mf.tone_wav(
        tmp_path / "k.wav", freq=1000, seconds=4, amplitude=0.5, lead_silence=0, tail_silence=0
    )
    r = check_voice_clip(path)
    assert r.loudness_lufs == pytest.approx(-9.03, abs=0.5)


def test_gain_never_pushes_peaks_past_minus_1_dbfs(tmp_path: Path) -> None:
    path = mf.tone_wav(
        tmp_path / "q.wav", freq=1000, seconds=4, amplitude=0.5, lead_silence=0, tail_silence=0
    )
    r = check_voice_clip(path, target_lufs=-3.0)  # would need +6 dB: peaks at 0 dBFS
    audio, _ = read_wav(r)
    assert np.abs(audio).max() <= 10 ** (-1 / 20) + 2 / 32767
    assert r.gain_db == pytest.approx(-1.0 + 6.02, abs=0.05)
    assert any("without its peaks going over -1 dBFS" in w for w in r.warnings)


def test_clipping_detected(tmp_path: Path) -> None:
    path = mf.tone_wav(tmp_path / "hot.wav", freq=440, seconds=3, amplitude=1.6)
    r = check_voice_clip(path)
    assert r.clipping
    assert any("clips" in w and "lower input level" in w for w in r.warnings)
    clean = check_voice_clip(mf.tone_wav(tmp_path / "ok.wav", amplitude=0.9))
    assert not clean.clipping


def test_best_window_lies_in_voiced_part(tmp_path: Path) -> None:
    # 1 s silence, 3 s tone, 4 s silence, 8 s tone, 0.5 s silence
    a = mf.tone_signal(440, 3, 16000, 1, 0.5, 1.0, 4.0)[0]
    b = mf.tone_signal(440, 8, 16000, 1, 0.5, 0.0, 0.5)[0]
    path = mf.write_wav(tmp_path / "gap.wav", np.concatenate([a, b]), 16000)
    r = check_voice_clip(path)
    offset = r.trimmed_range[0]  # processed time = source time - offset
    assert offset == pytest.approx(0.85, abs=0.1)
    w0, w1 = r.best_window
    assert w1 - w0 == pytest.approx(5.0, abs=0.02)
    voiced_start, voiced_end = 8.0 - offset, 16.0 - offset
    assert voiced_start - 0.05 <= w0 and w1 <= voiced_end + 0.05
    assert r.duration_s > 15
    long_warning = [w for w in r.warnings if "trained on ~5 s" in w]
    assert long_warning and f"{w0:.1f}-{w1:.1f} s" in long_warning[0]


def test_best_window_avoids_clipping(tmp_path: Path) -> None:
    sr = 16000
    hot = mf.tone_signal(440, 5, sr, 1, 1.6, 0.0, 0.0)[0]
    clean = mf.tone_signal(440, 6, sr, 1, 0.6, 0.0, 0.0)[0]
    path = mf.write_wav(tmp_path / "half.wav", np.concatenate([hot, clean]), sr)
    r = check_voice_clip(path)
    assert r.clipping
    w0, w1 = r.best_window
    assert w0 >= 5.0 - 0.05 and w1 <= 11.0 + 0.01


def test_short_clip_warns(tmp_path: Path) -> None:
    r = check_voice_clip(mf.tone_wav(tmp_path / "short.wav", seconds=1.0))
    assert r.duration_s < 2
    assert any("only 1.3 s" in w and "about 5 s" in w for w in r.warnings)
    assert r.best_window == pytest.approx((0.0, r.duration_s), abs=0.02)


@pytest.mark.parametrize(("src_sr", "expected"), [(8000, 48000), (22050, 22050), (96000, 48000)])
def test_sample_rate_policy(tmp_path: Path, src_sr: int, expected: int) -> None:
    r = check_voice_clip(mf.tone_wav(tmp_path / "r.wav", seconds=2.5, sr=src_sr))
    assert r.sample_rate == expected
    _, sr = read_wav(r)
    assert sr == expected


def test_channels_policy(tmp_path: Path) -> None:
    stereo = check_voice_clip(mf.tone_wav(tmp_path / "st.wav", channels=2))
    assert stereo.channels == 2 and read_wav(stereo)[0].shape[0] == 2
    quad = check_voice_clip(mf.tone_wav(tmp_path / "q.wav", channels=4))
    assert quad.channels == 1


# ----------------------------------------------------------------------------- speech


def test_espeak_speech_passes(speech: Path, tmp_path: Path) -> None:
    for path in (speech, mf.encode_audio(speech, tmp_path / "speech.mp3")):
        r = check_voice_clip(path)
        assert not r.clipping and not r.noisy
        assert r.duration_s > 2.0
        # the padded silence is trimmed (0.8 s lead, 0.6 s tail), the words kept
        assert 0.5 < r.trimmed_range[0] < 0.8
        assert r.source_duration_s - r.trimmed_range[1] > 0.3
        assert r.loudness_lufs < -10 and np.isfinite(r.loudness_lufs)
        audio, sr = read_wav(r)
        assert integrated_loudness(audio, sr) == pytest.approx(-23.0, abs=0.5)


def test_noisy_speech_flagged(tmp_path: Path) -> None:
    path = mf.speech_wav(tmp_path / "noisy.wav", "Testing a noisy room recording.", noise_rms=0.05)
    r = check_voice_clip(path)
    assert r.noisy
    assert r.noise_floor_db == pytest.approx(-26, abs=3)
    assert any("background noise" in w for w in r.warnings)


# ----------------------------------------------------------------------------- rejections


def test_rejects_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in rejected(tmp_path / "gone.wav").problem


def test_rejects_zero_byte_file(tmp_path: Path) -> None:
    assert "empty (0 bytes)" in rejected(mf.empty_file(tmp_path / "empty.wav")).problem


def test_rejects_text_file_named_wav(tmp_path: Path) -> None:
    assert "not an audio file" in rejected(mf.text_file(tmp_path / "fake.wav")).problem


def test_rejects_truncated_mp3(speech: Path, tmp_path: Path) -> None:
    mp3 = mf.encode_audio(speech, tmp_path / "full.mp3")
    err = rejected(mf.truncated_copy(mp3, tmp_path / "cut.mp3", 0.15))
    assert "truncated" in err.problem and "too little to use" in err.problem


def test_truncated_but_usable_warns(speech: Path, tmp_path: Path) -> None:
    mp3 = mf.encode_audio(speech, tmp_path / "full.mp3")
    r = check_voice_clip(mf.truncated_copy(mp3, tmp_path / "half.mp3", 0.6))
    assert any("truncated" in w for w in r.warnings)


def test_rejects_pure_silence(tmp_path: Path) -> None:
    err = rejected(mf.silence_wav(tmp_path / "silence.wav", seconds=5))
    assert "silent" in err.problem and "no voice" in err.problem


def test_rejects_faint_noise_without_voice(tmp_path: Path) -> None:
    path = mf.write_wav(tmp_path / "hiss.wav", mf.noise_signal(4, 16000, 10 ** (-65 / 20)), 16000)
    assert "no voice activity" in rejected(path).problem


def test_rejects_an_hour_of_audio_fast(tmp_path: Path) -> None:
    path = mf.hour_long_flac(tmp_path / "hour.flac")
    t0 = time.perf_counter()
    err = rejected(path)
    assert time.perf_counter() - t0 < 1.0
    assert "1 h" in err.problem and "the limit is 10 min" in err.problem


def test_rejects_longer_than_custom_limit(tmp_path: Path) -> None:
    err = rejected(mf.tone_wav(tmp_path / "t.wav", seconds=5), max_source_s=2.0)
    assert "too long" in err.problem and "2.0 s" in err.problem
