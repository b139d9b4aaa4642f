"""Real capture through PulseAudio's null sink, and recovery after the recorder is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from idlora_studio.recording import (
    Recorder,
    discard,
    find_input_device,
    find_unfinished_recordings,
    recover,
)
from tests.recording.conftest import RATE, VirtualMic, dominant_frequency

pytestmark = pytest.mark.audio


def active_span(data: np.ndarray, rate: int, threshold: float = 0.05) -> float:
    """Seconds between the first and last 10 ms window whose peak exceeds ``threshold``."""
    win = rate // 100
    n = data.shape[0] // win
    peaks = np.abs(data[: n * win]).reshape(n, win).max(axis=1)
    idx = np.nonzero(peaks > threshold)[0]
    return 0.0 if idx.size == 0 else (idx[-1] - idx[0] + 1) / 100


def wait_for_audio(rec: Recorder, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while rec.levels().seq == 0:
        assert time.monotonic() < deadline, "no audio block arrived from the virtual microphone"
        time.sleep(0.01)


def test_pulse_input_is_listed(virtual_mic: VirtualMic) -> None:
    dev = find_input_device("pulse")
    assert dev.name == "pulse" and dev.max_input_channels >= 1
    assert find_input_device("no such microphone").is_default  # unknown name: the default


def test_records_tone_and_checks_trim_it(virtual_mic: VirtualMic, tone_wav: Path, paths) -> None:
    from idlora_studio.library.audio_checks import check_voice_clip
    from idlora_studio.library.media_types import ImportRejected

    rec = Recorder(paths.recordings_dir)
    rec.start(device="pulse", samplerate=RATE, channels=1, identity_id=3)
    wait_for_audio(rec)
    player = virtual_mic.play(tone_wav)
    assert player.wait(timeout=15) == 0, player.stderr.read() if player.stderr else ""
    time.sleep(0.4)
    assert rec.levels().seq > 100  # blocks arrived continuously while the tone played
    wav = rec.stop()
    stats = rec.stats()
    assert stats.error is None and stats.dropped_frames == 0
    assert wav.parent == paths.recordings_dir and wav.suffix == ".wav"

    data, rate = sf.read(str(wav), dtype="float32")
    assert rate == RATE
    assert data.shape[0] / rate >= 3.0  # the whole tone file plus the margins
    assert active_span(data, rate) == pytest.approx(2.0, abs=0.1)
    assert dominant_frequency(data, rate) == pytest.approx(440.0, abs=5.0)

    # A tone is not a voice: the clip checks refuse it, saying why.
    with pytest.raises(ImportRejected, match="no speech was found"):
        check_voice_clip(wav)

    # The finished take stays offered until it is saved or thrown away.
    pending = find_unfinished_recordings(paths)
    assert [p.path for p in pending] == [wav] and pending[0].finished
    assert pending[0].identity_id == 3
    discard(pending[0])
    assert find_unfinished_recordings(paths) == []
    assert list(paths.recordings_dir.iterdir()) == []


def test_records_speech_and_checks_trim_it(
    virtual_mic: VirtualMic, speech_wav: Path, paths
) -> None:
    from idlora_studio.library import audio_checks
    from idlora_studio.library.audio_checks import check_voice_clip
    from tests.media_fixtures import espeak_boundaries

    first, last = espeak_boundaries(speech_wav)
    rec = Recorder(paths.recordings_dir)
    rec.start(device="pulse", samplerate=RATE, channels=1, identity_id=3)
    wait_for_audio(rec)
    player = virtual_mic.play(speech_wav)
    assert player.wait(timeout=20) == 0, player.stderr.read() if player.stderr else ""
    time.sleep(0.4)
    wav = rec.stop()
    checked = check_voice_clip(wav)
    # the kept part is the speech (Silero VAD) plus the documented margins
    start, end = checked.trimmed_range
    expected = (last - first) + 2 * audio_checks.MARGIN_S
    assert end - start == pytest.approx(expected, abs=0.1)
    assert checked.source_duration_s - checked.duration_s > 0.6  # the silence was cut
    assert checked.speech_s > 0.7 * (last - first)
    assert not checked.clipping
    discard(find_unfinished_recordings(paths)[0])


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from idlora_studio.recording import Recorder
    rec = Recorder(Path(sys.argv[1]), flush_interval=0.25)
    raw = rec.start(device="pulse", samplerate=48000, channels=1, identity_id=42)
    while rec.levels().seq == 0:  # audio is flowing
        time.sleep(0.01)
    print("started", raw, flush=True)
    while True:
        time.sleep(1)
    """
)


def test_sigkill_mid_recording_is_recovered(virtual_mic: VirtualMic, tone_wav: Path, paths) -> None:
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(paths.recordings_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.startswith("started"), f"recorder child failed: {line}{child.stderr.read()}"
        player = virtual_mic.play(tone_wav)  # tone starts 0.5 s into the file
        time.sleep(1.6)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        player.terminate()
        player.wait(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    found = find_unfinished_recordings(paths)
    assert len(found) == 1
    take = found[0]
    assert not take.finished and take.path.suffix == ".raw"
    assert take.identity_id == 42 and take.started_at is not None
    assert take.duration_s > 0.5

    wav = recover(take)
    data, rate = sf.read(str(wav), dtype="float32")
    assert rate == 48000
    assert data.shape[0] / rate == pytest.approx(take.duration_s, abs=0.01)
    assert active_span(data, rate) > 0.3  # part of the tone was captured
    voiced = data[np.abs(data) > 0.0]
    assert voiced.size > 0
    assert dominant_frequency(data, rate) == pytest.approx(440.0, abs=5.0)

    # Offered again as a finished take until discarded.
    again = find_unfinished_recordings(paths)
    assert len(again) == 1 and again[0].finished and again[0].path == wav
    discard(again[0])
    assert list(paths.recordings_dir.iterdir()) == []


def test_player_plays_back_into_the_sink(virtual_mic: VirtualMic, tone_wav: Path, paths) -> None:
    """The dialog's play-back path: Player's OutputStream -> null sink -> monitor -> Recorder."""
    from threading import Event

    from idlora_studio.recording.playback import Player

    ended = Event()
    errors: list[str | None] = []

    def finished(error: str | None) -> None:
        errors.append(error)
        ended.set()

    rec = Recorder(paths.recordings_dir)
    rec.start(device="pulse", samplerate=RATE)
    wait_for_audio(rec)
    player = Player(on_finished=finished)
    player.play(tone_wav, device="pulse")
    assert ended.wait(15), "play-back never finished"
    assert errors == [None] and not player.is_playing
    assert player.position_s == pytest.approx(3.0, abs=0.01)  # the whole file was fed
    time.sleep(0.3)
    wav = rec.stop()
    data, rate = sf.read(str(wav), dtype="float32")
    assert active_span(data, rate) == pytest.approx(2.0, abs=0.15)
    assert dominant_frequency(data, rate) == pytest.approx(440.0, abs=5.0)
    discard(wav)


def test_recording_package_is_qt_free() -> None:
    code = "import sys, idlora_studio.recording; sys.exit('PySide6' in sys.modules)"
    repo = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 0
