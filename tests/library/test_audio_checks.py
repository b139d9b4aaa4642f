"""check_voice_clip on real files: tones with known levels, espeak-ng speech, bad inputs."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

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


LONG_TEXT = (
    "Please call Stella and ask her to bring these things with her from the store: six "
    "spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her "
    "brother Bob."
)


def speech_signal(tmp: Path, text: str = LONG_TEXT, voice: str = "en+m1") -> tuple[np.ndarray, int]:
    path = mf.speech_wav(tmp / f"raw-{abs(hash((text, voice)))}.wav", text, voice=voice)
    data, sr = sf.read(str(path), dtype="float64")
    return data, sr


# ----------------------------------------------------------------------------- speech clips


def test_trims_to_the_speech_and_normalises(tmp_path: Path) -> None:
    raw = mf.speech_wav(tmp_path / "raw.wav", LONG_TEXT)
    first, last = mf.espeak_boundaries(raw)
    data, sr = sf.read(str(raw), dtype="float64")
    path = mf.write_wav(
        tmp_path / "padded.wav", np.concatenate([np.zeros(sr), data, np.zeros(sr)]), sr
    )
    r = check_voice_clip(path, target_lufs=-23.0)
    start, end = r.trimmed_range
    # the speech spans 1 s + first .. 1 s + last; 0.15 s of margin is kept each side
    assert start == pytest.approx(1.0 + first - 0.15, abs=0.05)
    assert end == pytest.approx(1.0 + last + 0.15, abs=0.05)
    assert r.duration_s == pytest.approx(end - start, abs=0.01)
    assert r.sample_rate == sr and r.channels == 1
    assert r.speech_s > 5.0
    audio, out_sr = read_wav(r)
    assert out_sr == sr and audio.shape == (1, round(r.duration_s * sr))
    assert pyloudnorm.Meter(sr).integrated_loudness(audio[0]) == pytest.approx(-23.0, abs=0.3)
    # the measured loudness is pyloudnorm's reading of the source
    source, _ = sf.read(str(path), dtype="float64")
    assert r.loudness_lufs == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(source))
    assert r.gain_db == pytest.approx(-23.0 - r.loudness_lufs, abs=0.01)
    assert not r.clipping and not r.noisy and r.warnings == ()
    assert len(r.peaks) == 400 and 0.0 <= min(r.peaks) and max(r.peaks) <= 1.0
    assert max(r.peaks) == pytest.approx(np.abs(audio).max(), abs=1e-3)


def test_gain_never_pushes_peaks_past_minus_1_dbfs(tmp_path: Path) -> None:
    path = mf.speech_wav(tmp_path / "q.wav", LONG_TEXT)
    r = check_voice_clip(path, target_lufs=-3.0)  # far louder than speech with peaks allows
    audio, _ = read_wav(r)
    assert np.abs(audio).max() <= 10 ** (-1 / 20) + 2 / 32767
    assert np.abs(audio).max() >= 10 ** (-1 / 20) - 2 / 32767
    assert any("without its peaks going over -1 dBFS" in w for w in r.warnings)


def test_clipping_detected(tmp_path: Path) -> None:
    data, sr = speech_signal(tmp_path)
    hot = mf.write_wav(tmp_path / "hot.wav", data * 8.0, sr)  # clamped to full scale
    r = check_voice_clip(hot)
    assert r.clipping
    assert any("clips" in w and "lower input level" in w for w in r.warnings)
    assert not check_voice_clip(mf.write_wav(tmp_path / "ok.wav", data, sr)).clipping


def test_best_window_avoids_a_long_pause(tmp_path: Path) -> None:
    # 2.5 s of speech, a 2 s pause, then ~8 s of continuous speech: the only 5 s stretch
    # without the pause is in the second part.
    a, sr = speech_signal(tmp_path, "The quick brown fox jumps over the lazy dog.")
    b, _ = speech_signal(tmp_path, LONG_TEXT)
    a = a[: int(2.5 * sr)]
    path = mf.write_wav(tmp_path / "gap.wav", np.concatenate([a, np.zeros(2 * sr), b]), sr)
    r = check_voice_clip(path)
    offset = r.trimmed_range[0]  # processed time = source time - offset
    w0, w1 = r.best_window
    assert w1 - w0 == pytest.approx(5.0, abs=0.02)
    pause_end = len(a) / sr + 2.0 - offset
    assert w0 >= pause_end - 0.05, (w0, pause_end)
    assert w1 <= r.duration_s + 1e-6


def test_best_window_avoids_clipping(tmp_path: Path) -> None:
    b, sr = speech_signal(tmp_path, LONG_TEXT)
    hot = np.clip(b[: int(6 * sr)] * 8.0, -1, 1)
    clean = b[int(6 * sr) :]
    path = mf.write_wav(tmp_path / "half.wav", np.concatenate([hot, clean * 0.5]), sr)
    r = check_voice_clip(path)
    assert r.clipping
    w0, _ = r.best_window
    assert w0 + r.trimmed_range[0] >= 6.0 - 0.05


@pytest.mark.parametrize(("src_sr", "expected"), [(8000, 48000), (22050, 22050), (96000, 48000)])
def test_sample_rate_policy(tmp_path: Path, src_sr: int, expected: int) -> None:
    from scipy.signal import resample_poly

    data, sr = speech_signal(tmp_path)
    g = np.gcd(src_sr, sr)
    path = mf.write_wav(tmp_path / "r.wav", resample_poly(data, src_sr // g, sr // g), src_sr)
    r = check_voice_clip(path)
    assert r.sample_rate == expected
    _, out_sr = read_wav(r)
    assert out_sr == expected


def test_channels_policy(tmp_path: Path) -> None:
    data, sr = speech_signal(tmp_path)
    stereo = check_voice_clip(mf.write_wav(tmp_path / "st.wav", np.stack([data, data]), sr))
    assert stereo.channels == 2 and read_wav(stereo)[0].shape[0] == 2
    quad = check_voice_clip(mf.write_wav(tmp_path / "q.wav", np.stack([data] * 4), sr))
    assert quad.channels == 1


def test_wav_with_placeholder_sizes_imports_by_its_content(tmp_path: Path) -> None:
    src = mf.speech_wav(tmp_path / "six.wav", LONG_TEXT[:110])
    assert sf.info(str(src)).samplerate == 22050
    path = mf.bogus_size_wav(src, tmp_path / "streamed.wav")
    r = check_voice_clip(path)
    assert r.source_duration_s == pytest.approx(sf.info(str(src)).duration, abs=0.01)
    assert not any("truncated" in w for w in r.warnings)


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
        assert pyloudnorm.Meter(sr).integrated_loudness(audio.T) == pytest.approx(-23, abs=0.5)


def test_noisy_speech_flagged(tmp_path: Path) -> None:
    path = mf.speech_wav(tmp_path / "noisy.wav", LONG_TEXT[:80], noise_rms=0.05)
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
    path = mf.write_wav(tmp_path / "hiss.wav", mf.noise_signal(4, 16000, 10 ** (-55 / 20)), 16000)
    assert "no speech was found" in rejected(path).problem


@pytest.mark.parametrize("rms_db", [-30.0, -12.0])
def test_rejects_white_noise(tmp_path: Path, rms_db: float) -> None:
    path = mf.write_wav(
        tmp_path / "noise.wav", mf.noise_signal(6, 48000, 10 ** (rms_db / 20)), 48000
    )
    err = rejected(path)
    assert "no speech was found" in err.problem and "steady noise" in err.problem


def test_rejects_a_tone(tmp_path: Path) -> None:
    err = rejected(mf.tone_wav(tmp_path / "tone.wav", seconds=4))
    assert "no speech was found" in err.problem


def test_rejects_a_clip_of_a_fifth_of_a_second(tmp_path: Path) -> None:
    data, sr = speech_signal(tmp_path)
    start = int(0.5 * sr)
    err = rejected(mf.write_wav(tmp_path / "blip.wav", data[start : start + sr // 5], sr))
    assert "0.2 s long" in err.problem and "at least 2 s" in err.problem


def test_rejects_too_little_speech(tmp_path: Path) -> None:
    # one short word inside 4 s of silence: long enough a file, too little voice in it
    word, sr = speech_signal(tmp_path, "Yes.")
    path = mf.write_wav(
        tmp_path / "yes.wav", np.concatenate([np.zeros(2 * sr), word, np.zeros(2 * sr)]), sr
    )
    err = rejected(path)
    assert "speech" in err.problem and "at least" in err.problem


def test_rejects_an_hour_of_audio_fast(tmp_path: Path) -> None:
    path = mf.hour_long_flac(tmp_path / "hour.flac")
    t0 = time.perf_counter()
    err = rejected(path)
    assert time.perf_counter() - t0 < 1.0
    assert "1 h" in err.problem and "the limit is 10 min" in err.problem


def test_rejects_longer_than_custom_limit(tmp_path: Path) -> None:
    err = rejected(mf.tone_wav(tmp_path / "t.wav", seconds=5), max_source_s=2.0)
    assert "too long" in err.problem and "2.0 s" in err.problem
