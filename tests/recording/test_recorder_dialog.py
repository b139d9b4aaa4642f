"""pytest-qt: the recorder dialog against the virtual microphone, and the recovery offer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt, QTimer

from idlora_studio.settings import Settings
from idlora_studio.ui.recorder_dialog import (
    RecorderDialog,
    RecoveredRecordingsDialog,
    format_elapsed,
    guidance_for,
    offer_recovered_recordings,
)
from idlora_studio.ui.widgets.level_meter import LevelMeter
from idlora_studio.ui.widgets.waveform import WaveformView
from tests.media_fixtures import espeak_boundaries
from tests.recording.conftest import RATE, VirtualMic


def test_guidance_steers_toward_five_seconds() -> None:
    assert "5 seconds" in guidance_for(1.0)
    assert "stop now" in guidance_for(5.5)
    assert "best 5 s" in guidance_for(10.0)
    assert format_elapsed(65.25) == "1:05.2"


def test_meter_and_waveform_widgets(qtbot) -> None:
    meter = LevelMeter()
    qtbot.addWidget(meter)
    with qtbot.waitSignal(meter.levels_changed) as sig:
        meter.set_levels(-6.02, -9.03, clipped=True)
    assert sig.args == [pytest.approx(-6.02), pytest.approx(-9.03)]
    assert meter.clipping and meter.hold_db == pytest.approx(-6.02)
    meter.set_levels(-30.0, -40.0)
    assert meter.hold_db == pytest.approx(-6.02)  # the peak hold stays up for a moment
    meter.resize(300, 22)
    meter.grab()  # paints without error

    wave = WaveformView()
    qtbot.addWidget(wave)
    wave.resize(200, 60)
    wave.set_peaks([0.0, 0.5, 1.5, -1.0], duration_s=4.0)
    assert wave.peaks().tolist() == [0.0, 0.5, 1.0, 0.0]
    wave.set_highlight(1.0, 3.0)
    wave.set_playhead(2.0)
    image = wave.grab().toImage()
    # the highlighted second half of the peaks is drawn: bright pixels near the middle row
    col = int(200 * 2.5 / 4.0)
    assert image.pixelColor(col, 30).blue() > 150
    with qtbot.waitSignal(wave.clicked_at) as clicked:
        qtbot.mouseClick(wave, Qt.MouseButton.LeftButton, pos=wave.rect().center())
    assert clicked.args[0] == pytest.approx(2.0, abs=0.1)


@pytest.mark.audio
def test_dialog_records_checks_and_saves(
    qtbot, virtual_mic: VirtualMic, speech_wav: Path, paths
) -> None:
    settings = Settings(paths.settings_path)
    saved: list[dict[str, Any]] = []

    def save_clip(path: Path) -> str:
        data, rate = sf.read(str(path), dtype="float32")
        saved.append(
            {
                "path": path,
                "duration": data.shape[0] / rate,
                "thread": threading.get_ident(),  # not current_thread(): no dummy Thread objects for Qt threads
            }
        )
        return "clip-1"

    dlg = RecorderDialog(paths, settings, save_clip, identity_id=5)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.select_device("pulse")
    assert settings.get("input_device") == "pulse"

    with qtbot.waitSignal(dlg.state_changed, check_params_cb=lambda s: s == "recording"):
        qtbot.mouseClick(dlg.record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.recorder.levels().seq > 0, timeout=5000)
    player = virtual_mic.play(speech_wav)

    # Over one second of capture: meter updates, and the event loop keeps answering.
    meter_updates: list[float] = []  # peak dBFS of each update
    ticks: list[float] = []
    dlg.meter.levels_changed.connect(lambda peak, rms: meter_updates.append(peak))
    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(lambda: ticks.append(time.monotonic()))
    ticker.start()
    qtbot.wait(1000)
    ticker.stop()
    assert len(meter_updates) >= 20, f"only {len(meter_updates)} meter updates in 1 s"
    assert len(ticks) >= 40 and max(np.diff(ticks)) < 0.2, "GUI event loop stalled"
    assert max(meter_updates) > -30  # the voice is on the meter
    assert dlg.waveform.peaks().max() > 0.05  # and in the live waveform

    # the guidance follows the speech the VAD hears, not the clock
    qtbot.waitUntil(lambda: "speech" in dlg.guidance_label.text(), timeout=10000)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=15000)
    qtbot.wait(300)
    assert dlg.elapsed_label.text().startswith("0:")
    with qtbot.waitSignal(dlg.check_finished, timeout=20000) as checked:
        qtbot.mouseClick(dlg.stop_button, Qt.MouseButton.LeftButton)
    result = checked.args[0]
    assert result is not None, dlg.status_label.text()
    assert dlg.state == "ready" and dlg.save_button.isEnabled()
    take = dlg.take
    assert take is not None and take.exists()
    recorded_s = sf.info(str(take)).duration
    assert recorded_s >= 3.0
    start, end = result.best_window
    assert dlg.waveform.highlight() == (start, end)
    assert "Suggested 5 s window" in dlg.window_label.text()
    first, last = espeak_boundaries(speech_wav)
    assert result.duration_s == pytest.approx(last - first + 0.3, abs=0.15)  # speech + margins

    with qtbot.waitSignal(dlg.clip_saved, timeout=10000) as done:
        qtbot.mouseClick(dlg.save_button, Qt.MouseButton.LeftButton)
    assert done.args == ["clip-1"]
    assert len(saved) == 1
    assert saved[0]["path"] == take
    assert saved[0]["duration"] == pytest.approx(recorded_s, abs=0.01)
    assert saved[0]["thread"] != threading.main_thread().ident  # saving ran off the GUI thread
    assert list(paths.recordings_dir.iterdir()) == []  # the library has it; take removed
    dlg.close()


def _write_crashed_take(folder: Path, identity_id: int | None, seconds: float) -> Path:
    """What a recorder killed mid-take leaves: sidecar + raw float32 (partial last frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    data = (0.4 * np.sin(2 * np.pi * 1000 * t)).astype("<f4")
    stem = folder / f"rec-20250101-120000-{identity_id or 0:08x}"
    meta = {
        "version": 1,
        "format": "f32le",
        "samplerate": RATE,
        "channels": 1,
        "started_at": "2025-01-01T12:00:00+00:00",
        "identity_id": identity_id,
        "state": "recording",
        "frames": 0,
    }
    stem.with_suffix(".json").write_text(json.dumps(meta))
    stem.with_suffix(".raw").write_bytes(data.tobytes() + b"\x01\x02")
    return stem.with_suffix(".raw")


class FakeLibrary:
    def __init__(self) -> None:
        self.added: list[tuple[int, float, str]] = []

    def list_identities(self) -> list[Any]:
        from types import SimpleNamespace

        return [SimpleNamespace(id=9, name="Narrator")]

    def add_voice_clip(self, identity_id: int, path: Path, *, source: str) -> str:
        data, rate = sf.read(str(path))
        self.added.append((identity_id, data.shape[0] / rate, source))
        return "ok"


def test_offer_recovered_recordings_saves_to_identities(qtbot, paths) -> None:
    assert offer_recovered_recordings(None, paths, FakeLibrary()) is None  # nothing to offer
    _write_crashed_take(paths.recordings_dir, 42, 1.5)
    _write_crashed_take(paths.recordings_dir, None, 0.8)
    lib = FakeLibrary()
    dlg = offer_recovered_recordings(None, paths, lib)
    assert isinstance(dlg, RecoveredRecordingsDialog)
    qtbot.addWidget(dlg)
    assert dlg.list.count() == 2
    assert dlg.identity_combo.currentText() == "Narrator"
    with qtbot.waitSignal(dlg.accepted, timeout=10000):
        qtbot.mouseClick(dlg.recover_button, Qt.MouseButton.LeftButton)
    assert sorted(lib.added) == [
        (9, pytest.approx(0.8), "recorded"),
        (42, pytest.approx(1.5), "recorded"),
    ]
    assert list(paths.recordings_dir.iterdir()) == []


def test_offer_recovered_recordings_discard(qtbot, paths) -> None:
    _write_crashed_take(paths.recordings_dir, 1, 0.5)
    dlg = offer_recovered_recordings(None, paths, None)
    assert dlg is not None
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.accepted):
        qtbot.mouseClick(dlg.discard_button, Qt.MouseButton.LeftButton)
    assert list(paths.recordings_dir.iterdir()) == []


def test_new_take_is_scored_against_the_identitys_clips(qtbot, paths, tmp_path: Path) -> None:  # noqa: ANN001
    from idlora_studio.ui.recorder_dialog import SAME_PERSON
    from tests.media_fixtures import speech_wav

    ref = speech_wav(tmp_path / "ref.wav", "The quick brown fox jumps over the lazy dog.")
    same = speech_wav(tmp_path / "same.wav", "Please call Stella and ask her to bring these.")
    other = speech_wav(
        tmp_path / "other.wav", "Please call Stella and ask her to bring these.", voice="en+f2"
    )
    dlg = RecorderDialog(
        paths, Settings(paths.settings_path), lambda p: p, identity_id=1, reference_clips=[ref]
    )
    qtbot.addWidget(dlg)
    scores = {}
    for name, take in (("same", same), ("other", other)):
        dlg.take = take
        with qtbot.waitSignal(dlg.match_finished, timeout=120_000) as done:
            dlg.score_take()
        assert done.args[0] is not None, dlg.match_label.text()
        scores[name] = done.args[0][0]
        scores[name + "_text"] = dlg.match_label.text()
    assert scores["same"] >= SAME_PERSON > scores["other"]
    assert scores["same_text"].startswith("This sounds like the same person as its clip")
    assert f"{scores['same']:.2f}" in scores["same_text"]
    assert "not" in scores["other_text"]
    assert "Resemblyzer" in dlg.match_label.toolTip()
    dlg.shutdown()


def test_speech_guidance_follows_the_speech_heard() -> None:
    from idlora_studio.recording.live_speech import SpeechSnapshot
    from idlora_studio.ui.recorder_dialog import guidance_for_speech

    assert "No speech heard" in guidance_for_speech(SpeechSnapshot(0.0), 3.0)
    assert "1.2 s of speech so far" in guidance_for_speech(SpeechSnapshot(1.2, True), 2.0)
    assert "pause is long" in guidance_for_speech(SpeechSnapshot(1.2, False, 2.5), 6.0)
    assert "You can stop now" in guidance_for_speech(SpeechSnapshot(5.1, True), 7.0)
