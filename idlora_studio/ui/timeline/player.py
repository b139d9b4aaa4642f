"""Timeline playback: PyAV-decoded frames in memory, video following the audio clock.

Design choice. Two ways were considered:

* ``QMediaPlayer`` per clip with a ``QVideoSink``, switching players at clip boundaries. Each
  switch costs a seek and a pipeline restart (a visible stall and an audio gap at every cut),
  trims are approximate (seeks land on key frames), and scrubbing a paused player is slow.
* **PyAV decode into a frame cache plus one ``QAudioSink``** (chosen). ``MediaCache`` decodes
  each take once on a worker (frames at preview size as ``QImage``, audio as 48 kHz float).
  On play, the timeline's audio from the playhead to the end is mixed into one PCM buffer
  (cut at the same frame boundaries as the video, gaps silent) and pushed into a
  ``QAudioSink``. The sink's ``processedUSecs()`` -- how much sound the device has actually
  consumed -- is the **master clock**; a 10 ms precise timer reads it and shows timeline frame
  ``start + floor(clock * fps)``. Cuts are frame-exact, there is nothing to switch at a
  boundary, and scrubbing shows the cached frame under the playhead immediately.

When there is no audio output device (a server, CI without a sound server) or while
shuttling at a rate other than 1x (J/L), the clock is a ``QElapsedTimer`` scaled by the rate;
``clock_source`` says which one runs. The sync invariant the tests check: the shown frame is
always ``frame_for_clock(clock_s())`` (within one timer tick, i.e. under one frame).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtMultimedia import QAudio, QAudioFormat, QAudioSink, QMediaDevices
from PySide6.QtWidgets import QSizePolicy, QWidget

from idlora_studio.state.project import ProjectState
from idlora_studio.ui.timeline.media_cache import PLAYBACK_RATE, MediaCache

TICK_MS = 10
SHUTTLE_RATES = (1.0, 2.0, 4.0, 8.0)


def mix_timeline_audio(
    state: ProjectState, cache: MediaCache, start_frame: int, rate: int = PLAYBACK_RATE
) -> np.ndarray | None:
    """Interleaved int16 stereo of the timeline from ``start_frame`` to its end.

    None while a clip's audio is still being decoded (the cache has been asked for it)."""
    fps = state.fps
    end = state.duration
    if end <= start_frame:
        return np.zeros((0, 2), np.int16)
    total = int(round((end - start_frame) * rate / fps))
    out = np.zeros((2, total), np.float32)
    ready = True
    for c in state.clips:
        if c.end <= start_frame:
            continue
        audio = cache.audio(state.media(c.take_id))
        if audio is None:
            ready = False
            continue
        first = max(c.position, start_frame)
        src0 = int(round((c.in_frame + first - c.position) * rate / fps))
        src1 = int(round(c.out_frame * rate / fps))
        dst0 = int(round((first - start_frame) * rate / fps))
        chunk = audio[:, src0:src1]
        n = min(chunk.shape[1], total - dst0)
        if n > 0:
            out[:, dst0 : dst0 + n] += chunk[:, :n]
    if not ready:
        return None
    return (np.clip(out, -1.0, 1.0) * 32767.0).astype(np.int16).T.copy()


class TimelinePlayer(QObject):
    """Plays the project's timeline; the playhead of ``state`` follows the clock."""

    frame_changed = Signal()
    playing_changed = Signal(bool)

    def __init__(
        self, state: ProjectState, cache: MediaCache, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.cache = cache
        self.image: QImage | None = None
        self.shown_frame = 0
        self.rate = 0.0
        self.clock_source = "none"
        self._start_frame = 0
        self._sink: QAudioSink | None = None
        self._io = None
        self._pcm: bytes = b""
        self._pcm_pos = 0
        self._elapsed = QElapsedTimer()
        self._waiting = False
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        state.playhead_changed.connect(self._on_playhead)
        state.clips_changed.connect(self._on_clips_changed)
        cache.frames_ready.connect(self._on_frames_ready)

    # ------------------------------------------------------------------ transport
    @property
    def playing(self) -> bool:
        return self.rate != 0.0 or self._waiting

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self, rate: float = 1.0) -> None:
        """Start from the playhead (at the end: from the start) at ``rate`` (negative: back)."""
        if not self.state.clips:
            return
        self._stop_clock()
        if rate > 0 and self.state.playhead >= self.state.duration:
            self.state.set_playhead(0)
        self._start_frame = self.state.playhead
        self.rate = float(rate)
        if rate == 1.0 and not QMediaDevices.defaultAudioOutput().isNull():
            pcm = mix_timeline_audio(self.state, self.cache, self._start_frame)
            if pcm is None:  # audio still decoding: start when it is there
                self.rate = 0.0
                self._waiting = True
                self.playing_changed.emit(True)
                return
            self._start_audio(pcm.tobytes())
        else:
            self.clock_source = "timer"
            self._elapsed.start()
        self._waiting = False
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        was = self.playing
        self._waiting = False
        frame = None
        if self.rate != 0.0:
            frame = max(0, min(self.frame_for_clock(), self.state.duration))
        self._stop_clock()
        self.rate = 0.0
        if frame is not None:
            self.state.set_playhead(frame)
        if was:
            self.playing_changed.emit(False)

    def shuttle(self, direction: int) -> None:
        """J/K/L: ``-1`` back (faster each press), ``0`` stop, ``1`` forward (faster)."""
        if direction == 0:
            self.pause()
            return
        current = self.rate if self.rate * direction > 0 else 0.0
        speeds = [r for r in SHUTTLE_RATES if r > abs(current)]
        speed = speeds[0] if speeds else SHUTTLE_RATES[-1]
        self.play(speed * direction)

    # ------------------------------------------------------------------ clock
    def clock_s(self) -> float:
        """Seconds of timeline played since ``play`` (the master clock; scaled by rate)."""
        if self.clock_source == "audio" and self._sink is not None:
            return self._sink.processedUSecs() / 1e6
        if self.clock_source == "timer" and self._elapsed.isValid():
            return self._elapsed.nsecsElapsed() / 1e9 * self.rate
        return 0.0

    def frame_for_clock(self, clock_s: float | None = None) -> int:
        t = self.clock_s() if clock_s is None else clock_s
        return self._start_frame + math.floor(t * self.state.fps + 1e-6)

    def _start_audio(self, pcm: bytes) -> None:
        fmt = QAudioFormat()
        fmt.setSampleRate(PLAYBACK_RATE)
        fmt.setChannelCount(2)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        self._sink = QAudioSink(QMediaDevices.defaultAudioOutput(), fmt, self)
        self._sink.setBufferSize(PLAYBACK_RATE * 4 // 5)  # 200 ms
        self._pcm = pcm
        self._pcm_pos = 0
        self._io = self._sink.start()
        self.clock_source = "audio"
        self._feed()

    def _feed(self) -> None:
        if self._sink is None or self._io is None:
            return
        free = self._sink.bytesFree()
        if free > 0 and self._pcm_pos < len(self._pcm):
            chunk = self._pcm[self._pcm_pos : self._pcm_pos + free - free % 4]
            written = self._io.write(chunk)
            if written > 0:
                self._pcm_pos += int(written)

    def _stop_clock(self) -> None:
        self._timer.stop()
        if self._sink is not None:
            self._sink.stop()
            self._sink.deleteLater()
            self._sink = None
            self._io = None
        self._elapsed.invalidate()
        self.clock_source = "none"

    def _tick(self) -> None:
        self._feed()
        frame = self.frame_for_clock()
        end = self.state.duration
        if (frame >= end and self.rate > 0) or (frame <= 0 and self.rate < 0):
            self.pause()
            return
        if (
            self._sink is not None
            and self._sink.state() == QAudio.State.StoppedState
            and self._sink.error() != QAudio.Error.NoError
        ):  # the device went away: keep playing on the timer clock
            self._stop_clock()
            self._start_frame = frame
            self.clock_source = "timer"
            self._elapsed.start()
            self._timer.start()
        self.state.set_playhead(frame)

    # ------------------------------------------------------------------ frames
    def _on_playhead(self, frame: int) -> None:
        self.show_frame(frame)

    def _on_clips_changed(self) -> None:
        if self.playing:
            self.pause()
        self.show_frame(self.state.playhead)

    def _on_frames_ready(self, _key: str) -> None:
        if self._waiting:
            self._waiting = False
            self.play()
        self.show_frame(self.state.playhead)

    def show_frame(self, frame: int) -> None:
        """Show timeline ``frame`` from the decoded-frame cache (a miss asks for a decode)."""
        c = self.state.clip_at(frame)
        image = None
        if c is not None:
            media = self.state.media(c.take_id)
            index = c.in_frame + frame - c.position
            image = self.cache.frame(media, index)
            if image is None:  # the take is being decoded: its timeline thumbnail meanwhile
                strip = self.cache.thumbnails(media)
                image = strip.nearest(index) if strip is not None else None
            if image is None and self.image is not None:
                image = self.image  # keep the last picture until there is one of this take
        self.image = image
        self.shown_frame = frame
        self.frame_changed.emit()


class PlayerView(QWidget):
    """Shows the player's current frame, letterboxed on black, with a timecode."""

    def __init__(self, player: TimelinePlayer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playerView")
        self.player = player
        self.setMinimumSize(240, 135)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        player.frame_changed.connect(self.update)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#0b0c0f"))
        img = self.player.image
        if img is not None and not img.isNull():
            scale = min(self.width() / img.width(), (self.height() - 22) / img.height())
            w, h = img.width() * scale, img.height() * scale
            target = QRectF((self.width() - w) / 2, (self.height() - 22 - h) / 2, w, h)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(target, img)
        fps = self.player.state.fps
        frame = self.player.shown_frame
        p.setPen(QColor("#9aa1b2"))
        p.drawText(
            self.rect().adjusted(8, 0, -8, -4),
            int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight),
            timecode(frame, fps),
        )
        p.end()


def timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS:FF`` of ``frame`` (non-drop-frame: FF counts frames within the second at
    the rounded rate, as editors show it for 23.976 and 29.97 too)."""
    fps_i = max(1, round(fps))
    s, f = divmod(max(0, int(frame)), fps_i)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{f:02d}"


def fps_text(fps: float) -> str:
    """``25 fps``, ``23.976 fps``."""
    return f"{fps:.3f}".rstrip("0").rstrip(".") + " fps"
