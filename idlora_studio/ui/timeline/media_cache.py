"""Thumbnails, waveforms and decoded frames of takes, computed off the GUI thread.

Everything is keyed by the take's *video hash* (the media store is content-addressed, so a
hash never changes meaning). Three kinds of data, each computed with PyAV on a pool thread of
the ``TaskRunner`` passed in and delivered on the GUI thread:

* **thumbnail strips**: one small frame every ``THUMB_STEP_S`` seconds, scaled to a fixed
  height; kept in memory and on disk (``<thumbnails_dir>/timeline/<hash>-h<H>.png`` plus a
  ``.json`` with the frame indices), so reopening a project paints at once;
* **waveform peaks**: min/max per ``PEAKS_PER_S`` bucket of the mixed-down audio track,
  in memory and as ``<hash>-peaks.npy``;
* **decoded frames**: every frame of the take at preview size (``FRAME_MAX_WIDTH``), as
  ``QImage`` (thread-safe, unlike ``QPixmap``), in memory only, bounded by
  ``frame_budget_bytes`` with least-recently-used eviction. The player and scrubbing read
  these; a miss schedules one decode of the whole take.

A getter that misses returns ``None`` and schedules the computation once; ``*_ready(hash)``
signals say when to repaint. ``worker_threads`` records the thread identity every
computation ran on (tests assert it is not the GUI thread).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from idlora_studio.state.project import TakeMedia
from idlora_studio.workers.tasks import TaskRunner

THUMB_STEP_S = 0.2
THUMB_HEIGHT = 56
PEAKS_PER_S = 200
FRAME_MAX_WIDTH = 480
PLAYBACK_RATE = 48_000


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


def _open_video(path: Path):  # noqa: ANN202 - av container
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def compute_thumbnails(
    path: Path, fps: float, height: int = THUMB_HEIGHT
) -> list[tuple[int, np.ndarray]]:
    """Decode ``path`` and keep one frame every ``THUMB_STEP_S`` s, scaled to ``height``."""
    step = max(1, round(THUMB_STEP_S * (fps or 25.0)))
    out: list[tuple[int, np.ndarray]] = []
    container, stream = _open_video(path)
    try:
        for i, frame in enumerate(container.decode(stream)):
            if i % step:
                continue
            width = max(2, round(frame.width * height / max(1, frame.height)))
            out.append((i, frame.to_ndarray(format="rgb24", width=width, height=height)))
    finally:
        container.close()
    return out


def decode_frames(path: Path, max_width: int = FRAME_MAX_WIDTH) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB, scaled down to at most ``max_width`` pixels wide."""
    frames: list[np.ndarray] = []
    container, stream = _open_video(path)
    try:
        for frame in container.decode(stream):
            w, h = frame.width, frame.height
            if w > max_width:
                h = max(2, round(h * max_width / w)) // 2 * 2
                w = max_width
            frames.append(frame.to_ndarray(format="rgb24", width=w, height=h))
    finally:
        container.close()
    return frames


def decode_playback_audio(path: Path, rate: int = PLAYBACK_RATE) -> np.ndarray:
    """The take's audio as float32 stereo (2, N) at ``rate``; empty when it has none."""
    import av

    container = av.open(str(path))
    try:
        if not container.streams.audio:
            return np.zeros((2, 0), np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    finally:
        container.close()
    if not chunks:
        return np.zeros((2, 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def compute_peaks(path: Path, per_s: int = PEAKS_PER_S) -> np.ndarray:
    """Min/max of the mono mix per ``1/per_s`` s bucket: float32 (buckets, 2)."""
    from engine.media.video import read_audio_track

    try:
        data, rate = read_audio_track(path)
    except Exception:  # noqa: BLE001 - a take without audio has a flat waveform
        return np.zeros((0, 2), np.float32)
    mono = data.mean(axis=0) if data.size else np.zeros(0, np.float32)
    size = max(1, rate // per_s)
    n = mono.size // size
    if n == 0:
        return np.zeros((0, 2), np.float32)
    blocks = mono[: n * size].reshape(n, size)
    return np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).astype(np.float32)


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
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
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

    def _load_thumbs(self, media: TakeMedia) -> ThumbStrip:  # pool thread
        self._note_thread()
        png = json_path = None
        if self._dir is not None:
            png = self._dir / f"{media.video_hash}-h{self._height}.png"
            json_path = png.with_suffix(".json")
            if png.is_file() and json_path.is_file():
                try:
                    meta = json.loads(json_path.read_text())
                    sheet = QImage(str(png))
                    if not sheet.isNull():
                        widths = meta["widths"]
                        images, x = [], 0
                        for w in widths:
                            images.append(sheet.copy(x, 0, w, sheet.height()))
                            x += w
                        return ThumbStrip(tuple(meta["indices"]), tuple(images))
                except (OSError, ValueError, KeyError):
                    pass
        items = compute_thumbnails(media.video_path, media.fps, self._height)
        images = tuple(_to_qimage(rgb) for _, rgb in items)
        strip = ThumbStrip(tuple(i for i, _ in items), images)
        if png is not None and json_path is not None and images:
            try:
                png.parent.mkdir(parents=True, exist_ok=True)
                sheet = np.concatenate([rgb for _, rgb in items], axis=1)
                tmp = png.with_suffix(".tmp.png")
                _to_qimage(sheet).save(str(tmp), "PNG")
                tmp.replace(png)
                json_path.write_text(
                    json.dumps(
                        {"indices": list(strip.indices), "widths": [i.width() for i in images]}
                    )
                )
            except OSError:
                pass  # a cache that cannot be written is only slower next time
        return strip

    def _load_peaks(self, media: TakeMedia) -> np.ndarray:  # pool thread
        self._note_thread()
        path = self._dir / f"{media.video_hash}-peaks.npy" if self._dir is not None else None
        if path is not None and path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass
        peaks = compute_peaks(media.video_path)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.with_suffix(".tmp"), "wb") as fh:
                    np.save(fh, peaks)
                path.with_suffix(".tmp").replace(path)
            except OSError:
                pass
        return peaks

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
