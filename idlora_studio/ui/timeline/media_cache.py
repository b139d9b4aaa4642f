"""Thumbnails, waveforms and decoded frames of takes, computed off the GUI thread.

Everything is keyed by the take's *video hash* (the media store is content-addressed, so a
hash never changes meaning). Three kinds of data, each computed with PyAV (the functions of
:mod:`idlora_studio.workers.timeline_media`) from a pool thread of the ``TaskRunner`` passed in
and delivered on the GUI thread:

* **thumbnail strips**: one small frame every ``THUMB_STEP_S`` seconds, scaled to a fixed
  height; kept in memory and on disk (``<thumbnails_dir>/timeline/<hash>-h<H>.png`` plus a
  ``.json`` with the frame indices), so reopening a project paints at once;
* **waveform peaks**: min/max per ``PEAKS_PER_S`` bucket of the mixed-down audio track,
  in memory and as ``<hash>-peaks.npy``;
* **decoded frames**: every frame of the take at preview size (``FRAME_MAX_WIDTH``), as
  ``QImage`` (thread-safe, unlike ``QPixmap``), in memory only, bounded by
  ``frame_budget_bytes`` with least-recently-used eviction. The player and scrubbing read
  these; a miss schedules one decode of the whole take.

With a :class:`~idlora_studio.workers.timeline_media.MediaProcess` (``process``; the Studio
passes one) thumbnails and waveforms are decoded in that child process, so the GUI's process
never imports PyAV or decodes for them: a pool thread doing it held the GIL the GUI thread
needs (a take landing in the bin at the end of a generation stalled the GUI 64 ms). The
decoded frames (playback) are still decoded here, on a pool thread.

A getter that misses returns ``None`` and schedules the computation once; ``*_ready(hash)``
signals say when to repaint. ``worker_threads`` records the thread identity every
computation ran on (tests assert it is not the GUI thread).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from idlora_studio.child_pool import ChildUnavailable
from idlora_studio.state.project import TakeMedia
from idlora_studio.workers.tasks import TaskRunner
from idlora_studio.workers.timeline_media import (
    FRAME_MAX_WIDTH,
    PEAKS_PER_S,
    PLAYBACK_RATE,
    THUMB_HEIGHT,
    THUMB_STEP_S,
    MediaProcess,
    compute_peaks,
    compute_thumbnails,
    decode_frames,
    decode_playback_audio,
    thumbnail_sheet,
    waveform_peaks,
)

__all__ = [
    "FRAME_MAX_WIDTH",
    "PEAKS_PER_S",
    "PLAYBACK_RATE",
    "THUMB_HEIGHT",
    "THUMB_STEP_S",
    "MediaCache",
    "ThumbStrip",
    "compute_peaks",
    "compute_thumbnails",
    "decode_frames",
    "decode_playback_audio",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ThumbStrip:
    """Frames of one take at ``indices`` (take frame numbers), each ``height`` pixels high."""

    indices: tuple[int, ...]
    images: tuple[QImage, ...]

    def nearest(self, frame: int) -> QImage | None:
        if not self.images:
            return None
        pos = int(np.searchsorted(np.asarray(self.indices), frame, side="right")) - 1
        return self.images[max(0, min(pos, len(self.images) - 1))]


# ----------------------------------------------------------------------------- pure work
def _to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _strip(indices: list[int], widths: list[int], sheet: QImage | None) -> ThumbStrip:
    """The thumbnails cut back out of a sheet (side by side, ``widths`` wide each)."""
    images, x = [], 0
    if sheet is not None:
        for w in widths:
            images.append(sheet.copy(x, 0, w, sheet.height()))
            x += w
    return ThumbStrip(tuple(indices), tuple(images))


# ----------------------------------------------------------------------------- the cache
class MediaCache(QObject):
    """Memory + disk cache of thumbnail strips, waveform peaks and decoded frames."""

    thumbnails_ready = Signal(str)
    waveform_ready = Signal(str)
    frames_ready = Signal(str)
    failed = Signal(str, str)

    def __init__(
        self,
        runner: TaskRunner,
        cache_dir: Path | None = None,
        *,
        thumb_height: int = THUMB_HEIGHT,
        frame_budget_bytes: int = 768 * 1024 * 1024,
        process: MediaProcess | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._process = process
        self._dir = Path(cache_dir) / "timeline" if cache_dir is not None else None
        self._height = thumb_height
        self._budget = frame_budget_bytes
        self._thumbs: dict[str, ThumbStrip] = {}
        self._peaks: dict[str, np.ndarray] = {}
        self._frames: OrderedDict[str, tuple[QImage, ...]] = OrderedDict()
        self._audio: dict[str, np.ndarray] = {}
        self._pending: set[tuple[str, str]] = set()
        self.worker_threads: list[int] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ getters
    def thumbnails(self, media: TakeMedia) -> ThumbStrip | None:
        strip = self._thumbs.get(media.video_hash)
        if strip is None:
            self._schedule("thumbs", media)
        return strip

    def waveform(self, media: TakeMedia) -> np.ndarray | None:
        peaks = self._peaks.get(media.video_hash)
        if peaks is None:
            self._schedule("peaks", media)
        return peaks

    def frames(self, media: TakeMedia) -> tuple[QImage, ...] | None:
        frames = self._frames.get(media.video_hash)
        if frames is None:
            self._schedule("frames", media)
        else:
            self._frames.move_to_end(media.video_hash)
        return frames

    def frame(self, media: TakeMedia, index: int) -> QImage | None:
        frames = self.frames(media)
        if not frames:
            return None
        return frames[max(0, min(index, len(frames) - 1))]

    def audio(self, media: TakeMedia) -> np.ndarray | None:
        """Playback audio (2, N) at 48 kHz, or None while it is decoded (with the frames)."""
        data = self._audio.get(media.video_hash)
        if data is None:
            self._schedule("frames", media)
        return data

    def is_pending(self) -> bool:
        return bool(self._pending)

    # ------------------------------------------------------------------ work
    def _note_thread(self) -> None:
        with self._lock:
            self.worker_threads.append(threading.get_ident())

    def _schedule(self, kind: str, media: TakeMedia) -> None:
        key = (kind, media.video_hash)
        if key in self._pending:
            return
        self._pending.add(key)
        fn = {"thumbs": self._load_thumbs, "peaks": self._load_peaks, "frames": self._load_frames}[
            kind
        ]
        self._runner.submit(
            lambda: fn(media),
            lambda result: self._done(kind, media.video_hash, result),
            lambda exc: self._error(kind, media.video_hash, exc),
        )

    def _decode(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the decoding process when there is one (and it could start),
        else on this thread."""
        if self._process is not None:
            try:
                return self._process.run(fn, *args)
            except ChildUnavailable:
                pass
        return fn(*args)

    def _load_thumbs(self, media: TakeMedia) -> ThumbStrip:  # pool thread
        self._note_thread()
        png = meta = None
        if self._dir is not None:
            png = self._dir / f"{media.video_hash}-h{self._height}.png"
            meta = png.with_suffix(".json")
            if png.is_file() and meta.is_file():
                try:
                    cached = json.loads(meta.read_text())
                    sheet = QImage(str(png))
                    if not sheet.isNull():
                        return _strip(cached["indices"], cached["widths"], sheet)
                except (OSError, ValueError, KeyError):
                    pass
        indices, widths, rgb = self._decode(
            thumbnail_sheet, media.video_path, media.fps, self._height, png, meta
        )
        return _strip(indices, widths, _to_qimage(rgb) if rgb is not None else None)

    def _load_peaks(self, media: TakeMedia) -> np.ndarray:  # pool thread
        self._note_thread()
        path = self._dir / f"{media.video_hash}-peaks.npy" if self._dir is not None else None
        if path is not None and path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass
        return self._decode(waveform_peaks, media.video_path, path)

    def _load_frames(self, media: TakeMedia) -> tuple[tuple[QImage, ...], np.ndarray]:
        self._note_thread()
        frames = tuple(_to_qimage(f) for f in decode_frames(media.video_path))
        return frames, decode_playback_audio(media.video_path)

    def _done(self, kind: str, key: str, result: object) -> None:
        self._pending.discard((kind, key))
        if kind == "thumbs":
            self._thumbs[key] = result  # type: ignore[assignment]
            self.thumbnails_ready.emit(key)
        elif kind == "peaks":
            self._peaks[key] = result  # type: ignore[assignment]
            self.waveform_ready.emit(key)
        else:
            frames, audio = result  # type: ignore[misc]
            self._frames[key] = frames
            self._audio[key] = audio
            self._evict()
            self.frames_ready.emit(key)

    def _error(self, kind: str, key: str, exc: BaseException) -> None:
        self._pending.discard((kind, key))
        self.failed.emit(key, f"{kind}: {exc}")

    def _evict(self) -> None:
        def size(frames: tuple[QImage, ...]) -> int:
            return sum(f.sizeInBytes() for f in frames)

        total = sum(size(f) for f in self._frames.values())
        while total > self._budget and len(self._frames) > 1:
            key, frames = self._frames.popitem(last=False)
            self._audio.pop(key, None)
            total -= size(frames)
