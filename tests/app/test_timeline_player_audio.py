"""Playback through a real audio device (a private PulseAudio null sink): the audio clock
(``QAudioSink.processedUSecs``) drives the picture.

QtMultimedia enumerates audio devices once per process, so the scenario runs in a fresh
interpreter started after the sound server is up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.recording.conftest import virtual_mic  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


def scenario(home: str) -> None:
    """Runs in the child: play a three-take timeline for 0.6 s on the default device."""
    import time

    from PySide6.QtCore import QElapsedTimer
    from PySide6.QtMultimedia import QMediaDevices
    from PySide6.QtWidgets import QApplication

    os.environ["IDLORA_STUDIO_HOME"] = home
    app = QApplication([])
    from idlora_studio.paths import Paths
    from idlora_studio.state.project import ProjectState
    from idlora_studio.ui.timeline.media_cache import MediaCache
    from idlora_studio.ui.timeline.player import TimelinePlayer
    from idlora_studio.workers.tasks import TaskRunner
    from tests.app.timeline_helpers import make_project

    def spin(cond, ms: int = 10000) -> None:  # noqa: ANN001
        t = QElapsedTimer()
        t.start()
        while not cond() and t.elapsed() < ms:
            app.processEvents()
            time.sleep(0.002)
        assert cond(), "timed out"

    assert not QMediaDevices.defaultAudioOutput().isNull(), "no audio output device"
    paths = Paths.from_env().ensure()
    env = make_project(paths, Path(home))
    db, media = TaskRunner(1), TaskRunner(2)
    state = ProjectState(env.projects, db, env.takes)
    cache = MediaCache(media, paths.thumbnails_dir)
    player = TimelinePlayer(state, cache)
    done: list[bool] = []
    state.load(env.project_id, lambda: done.append(True))
    spin(lambda: bool(done))
    for t in env.take_ids:
        state.append_take(t)
    for t in env.take_ids:
        spin(lambda t=t: cache.audio(state.media(t)) is not None)
    player.play()
    assert player.clock_source == "audio", player.clock_source
    # The sound server takes a moment to start the stream; the picture waits for it (the audio
    # clock is the master). Once audio runs, the clock must advance at real-time rate and the
    # picture must follow it.
    spin(lambda: player.clock_s() > 0.05, 5000)
    c1, t1 = player.clock_s(), time.monotonic()
    spin(lambda: time.monotonic() - t1 >= 0.6, 2000)
    clock, t2 = player.clock_s(), time.monotonic()
    elapsed = t2 - t1
    assert abs((clock - c1) - elapsed) < 0.15, (c1, clock, elapsed)
    assert abs(player.shown_frame - player.frame_for_clock()) <= 1
    assert abs(state.playhead - clock * state.fps) <= 2, (state.playhead, clock)
    player.pause()
    db.wait(5000)
    media.wait(5000)
    env.library.close()
    print("AUDIO-CLOCK-OK", round(clock, 3), round(elapsed, 3))


def test_audio_clock_drives_video(virtual_mic, tmp_path) -> None:  # noqa: ANN001, F811
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from tests.app.test_timeline_player_audio import scenario; "
        f"scenario({str(tmp_path / 'home')!r})"
    )
    (tmp_path / "home").mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert res.returncode == 0 and "AUDIO-CLOCK-OK" in res.stdout, res.stdout + res.stderr[-3000:]
