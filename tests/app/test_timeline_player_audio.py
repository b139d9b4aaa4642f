"""Playback through a real audio device (a private PulseAudio null sink): the audio clock
(``QAudioSink.processedUSecs``) drives the picture."""

from __future__ import annotations

import time

from PySide6.QtMultimedia import QMediaDevices

from tests.app.test_timeline import Rig, rig  # noqa: F401 - fixture
from tests.recording.conftest import virtual_mic  # noqa: F401 - fixture


def test_audio_clock_drives_video(virtual_mic, rig: Rig) -> None:  # noqa: ANN001, F811
    rig.qtbot.waitUntil(lambda: not QMediaDevices.defaultAudioOutput().isNull(), timeout=5000)
    st = rig.state
    for t in rig.env.take_ids:
        st.append_take(t)
    for t in rig.env.take_ids:
        rig.qtbot.waitUntil(lambda t=t: rig.cache.audio(st.media(t)) is not None, timeout=10000)
    player = rig.player
    player.play()
    assert player.clock_source == "audio"
    t0 = time.monotonic()
    rig.qtbot.wait(600)
    elapsed = time.monotonic() - t0
    clock = player.clock_s()
    assert clock > 0.2 and abs(clock - elapsed) < 0.25, (clock, elapsed)
    assert abs(player.shown_frame - player.frame_for_clock()) <= 1
    player.pause()
