"""engine.voice on real models and real synthetic speech (espeak-ng voices).

Silero VAD finds the speech, Resemblyzer's GE2E encoder tells voices apart, the best window
keeps out of pauses. Both models ship inside their pip packages: these tests run with the
network off (see ``test_models_load_with_sockets_blocked``).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.voice import similarity as sim
from engine.voice.vad import StreamingVad, detect_speech
from engine.voice.windows import best_window
from tests import media_fixtures as mf

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call Stella and ask her to bring these things from the store.",
    "I would like to order a large pizza with extra cheese tonight.",
)
# espeak-ng voice variants that sound like different people (the m1/m3 variants, for
# instance, are nearly the same voice and are not used as "different").
VOICES = ("en+m1", "en+f2", "en-us+m7")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    d = tmp_path_factory.mktemp("voices")
    return {
        (v, i): mf.speech_wav(d / f"{v.replace('+', '_')}-{i}.wav", text, voice=v)
        for v in VOICES
        for i, text in enumerate(SENTENCES)
    }


def _read(path: Path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(path), dtype="float64")
    return data, sr


# ----------------------------------------------------------------------------- VAD


@pytest.mark.parametrize("voice", VOICES)
def test_vad_finds_speech_within_50_ms_of_known_boundaries(clips, voice: str) -> None:  # noqa: ANN001
    for i in range(len(SENTENCES)):
        path = clips[(voice, i)]
        first, last = mf.espeak_boundaries(path)
        data, sr = _read(path)
        lead, tail = 0.8 + 0.1 * i, 0.6
        signal = np.concatenate([np.zeros(int(lead * sr)), data, np.zeros(int(tail * sr))])
        found = detect_speech(signal, sr)
        assert found.segments, "no speech found"
        assert found.segments[0][0] == pytest.approx(lead + first, abs=0.05)
        assert found.segments[-1][1] == pytest.approx(lead + last, abs=0.05)
        assert found.speech_s > 0.6 * (last - first)


def test_vad_finds_nothing_in_silence_noise_or_tones() -> None:
    sr = 16000
    rng = np.random.default_rng(3)
    assert detect_speech(np.zeros(5 * sr), sr).segments == ()
    for db in (-60, -40, -25, -12):
        noise = rng.standard_normal(5 * sr) * 10 ** (db / 20)
        assert detect_speech(noise, sr).segments == (), f"speech found in {db} dBFS noise"
    t = np.arange(4 * sr) / sr
    assert detect_speech(0.5 * np.sin(2 * np.pi * 440 * t), sr).segments == ()


def test_vad_separates_sentences_around_a_pause(clips) -> None:  # noqa: ANN001
    a, sr = _read(clips[("en+m1", 0)])
    b, _ = _read(clips[("en+m1", 1)])
    signal = np.concatenate([a, np.zeros(int(1.5 * sr)), b])
    found = detect_speech(signal, sr)
    pauses = found.pauses(1.0)
    assert len(pauses) == 1
    a_last = mf.espeak_boundaries(clips[("en+m1", 0)])[1]
    b_first = mf.espeak_boundaries(clips[("en+m1", 1)])[0] + len(a) / sr + 1.5
    assert pauses[0][0] == pytest.approx(a_last, abs=0.05)
    assert pauses[0][1] == pytest.approx(b_first, abs=0.05)


def test_streaming_vad_follows_live_input(clips) -> None:  # noqa: ANN001
    data, sr = _read(clips[("en+f2", 1)])
    data = np.concatenate([np.zeros(sr), data]).astype(np.float32)
    stream = StreamingVad(sr)
    block = sr // 50  # 20 ms blocks, as an input stream delivers them
    heard_at = None
    for i in range(0, len(data), block):
        stream.feed(data[i : i + block])
        if heard_at is None and stream.speaking():
            heard_at = i / sr
    whole = detect_speech(data, sr)
    assert heard_at is not None and heard_at == pytest.approx(whole.segments[0][0], abs=0.15)
    assert stream.speech_s == pytest.approx(whole.speech_s, rel=0.15)
    assert stream.silence_s() < 0.3


# ----------------------------------------------------------------------------- windows


def test_best_window_avoids_an_inserted_long_pause(clips) -> None:  # noqa: ANN001
    # 3 s of one sentence, a 2.5 s pause, then two sentences back to back (~7 s)
    a, sr = _read(clips[("en-us+m7", 0)])
    b, _ = _read(clips[("en-us+m7", 1)])
    c, _ = _read(clips[("en-us+m7", 2)])
    head = a[: 3 * sr]
    signal = np.concatenate([head, np.zeros(int(2.5 * sr)), b, c])
    w0, w1 = best_window(signal, sr)
    assert w1 - w0 == pytest.approx(5.0, abs=0.02)
    pause = (3.0 - 0.1, 3.0 + 2.5)
    assert w0 >= pause[1] - 0.05, f"window {w0:.2f}-{w1:.2f} s overlaps the pause {pause}"


def test_best_window_of_a_short_clip_is_the_whole_clip(clips) -> None:  # noqa: ANN001
    data, sr = _read(clips[("en+f2", 0)])
    w0, w1 = best_window(data[: 3 * sr], sr)
    assert (w0, w1) == pytest.approx((0.0, 3.0), abs=0.011)


# ----------------------------------------------------------------------------- similarity


def test_same_voice_scores_higher_than_different_voices(clips) -> None:  # noqa: ANN001
    emb = {key: sim.embed_file(path) for key, path in clips.items()}
    same = [
        sim.similarity(emb[(v, i)], emb[(v, j)])
        for v in VOICES
        for i, j in itertools.combinations(range(len(SENTENCES)), 2)
    ]
    different = [
        sim.similarity(emb[(v, i)], emb[(w, i)])
        for v, w in itertools.combinations(VOICES, 2)
        for i in range(len(SENTENCES))
    ]
    assert len(same) >= 5 and len(different) >= 5
    assert min(same) > max(different), (sorted(same), sorted(different))
    for e in emb.values():
        assert e.vector.shape == (256,) and np.linalg.norm(e.vector) == pytest.approx(1, abs=1e-5)
        assert e.speech_s > 2.0


def test_voice_match_of_files_and_of_a_video(clips, tmp_path: Path) -> None:  # noqa: ANN001
    ref = clips[("en+m1", 0)]
    mp4 = mf.encode_audio(clips[("en+m1", 1)], tmp_path / "take.mp4")
    other = mf.encode_audio(clips[("en+f2", 1)], tmp_path / "other.mp4")
    same = sim.voice_match_files(mp4, ref)
    diff = sim.voice_match_files(other, ref)
    assert 0.0 <= diff < same <= 1.0
    data, sr = _read(ref)
    assert sim.voice_match(data, sr, data, sr) == pytest.approx(1.0, abs=1e-5)


def test_scoring_refuses_empty_audio() -> None:
    with pytest.raises(sim.VoiceScoreError):
        sim.embed_voice(np.zeros(0), 16000)
    with pytest.raises(sim.VoiceScoreError):
        sim.embed_voice(np.full(16000, np.nan), 16000)


def test_models_load_with_sockets_blocked(tmp_path: Path) -> None:
    """Both models come from the installed packages: with every socket refused and the hub
    offline, a fresh process loads them and scores a clip."""
    wav = mf.speech_wav(tmp_path / "s.wav", SENTENCES[0])
    code = f"""
import socket
def refuse(*a, **k):
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import soundfile as sf
from engine.voice import similarity, vad
x, sr = sf.read({str(wav)!r})
assert vad.detect_speech(x, sr).segments
e = similarity.embed_voice(x, sr)
assert e.vector.shape == (256,)
print("ok")
"""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_engine_voice_import_is_light() -> None:
    code = (
        "import sys, engine.voice.vad, engine.voice.similarity, engine.voice.windows;"
        "bad = [m for m in ('torch', 'PySide6', 'resemblyzer', 'silero_vad') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
