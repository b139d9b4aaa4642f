"""What the timeline shows of a take, decoded with PyAV, and a process to decode it in. Qt-free.

The functions decode a take's MP4: :func:`compute_thumbnails` (one small frame every
``THUMB_STEP_S`` s), :func:`compute_peaks` (min/max of the audio per bucket),
:func:`decode_frames` and :func:`decode_playback_audio` (for the player).
:func:`thumbnail_sheet` and :func:`waveform_peaks` compute the first two and also write them to
the timeline's disk cache, so the next session reads them instead.

:class:`MediaProcess` runs such a function in a child process of its own. The timeline's
:class:`~idlora_studio.ui.timeline.media_cache.MediaCache` uses it for thumbnails and
waveforms: a take landing in the bin at the end of a generation had its thumbnails decoded on
a pool thread of the GUI's process, and that thread held the GIL (the first time PyAV itself
was imported: 75 ms of CPU, a 64 ms stall of the GUI thread measured by
``tools/probe_gui_latency.py``). The child imports PyAV once and decodes every take after; only
the small results come back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

THUMB_STEP_S = 0.2
THUMB_HEIGHT = 56
PEAKS_PER_S = 200
FRAME_MAX_WIDTH = 480
PLAYBACK_RATE = 48_000
#: niceness added to the decoding process: the GUI's process gets the CPU first
CHILD_NICENESS = 10

T = TypeVar("T")


# ----------------------------------------------------------------------------- decoding
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


# ----------------------------------------------------------------------------- disk cache
def thumbnail_sheet(
    path: Path, fps: float, height: int, png: Path | None = None, meta: Path | None = None
) -> tuple[list[int], list[int], np.ndarray | None]:
    """The thumbnails of :func:`compute_thumbnails` side by side in one RGB sheet: (frame
    indices, each thumbnail's width, the sheet; None without thumbnails). With ``png`` and
    ``meta`` the sheet is also saved there (PNG, and JSON with the indices and widths); a
    cache that cannot be written is only slower next time."""
    items = compute_thumbnails(path, fps, height)
    if not items:
        return [], [], None
    indices = [i for i, _ in items]
    widths = [int(rgb.shape[1]) for _, rgb in items]
    sheet = np.ascontiguousarray(np.concatenate([rgb for _, rgb in items], axis=1))
    if png is not None and meta is not None:
        from PIL import Image

        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            tmp = png.with_suffix(".tmp.png")
            Image.fromarray(sheet).save(tmp, format="PNG")
            tmp.replace(png)
            meta.write_text(json.dumps({"indices": indices, "widths": widths}))
        except OSError:
            pass
    return indices, widths, sheet


def waveform_peaks(path: Path, npy: Path | None = None) -> np.ndarray:
    """:func:`compute_peaks` of ``path``, also saved to ``npy`` when given (if it can be)."""
    peaks = compute_peaks(path)
    if npy is not None:
        try:
            npy.parent.mkdir(parents=True, exist_ok=True)
            with open(npy.with_suffix(".tmp"), "wb") as fh:
                np.save(fh, peaks)
            npy.with_suffix(".tmp").replace(npy)
        except OSError:
            pass
    return peaks


# ----------------------------------------------------------------------------- the process
def _child_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)


class MediaProcess:
    """Runs module-level functions (such as :func:`thumbnail_sheet`) in one child process,
    started on first use (``multiprocessing``'s *spawn*: no Qt in the child) and kept for the
    next call. The standard library's ``ProcessPoolExecutor`` with one worker does the
    process's life (start, pipe, exit); a child that died is replaced on the next call.
    Thread-safe; calls wait their turn. :meth:`close` at shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the child (blocks the calling thread, never call it on the GUI
        thread); what it returned, or the exception it raised."""
        pool = self._get_pool()
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            self._drop(pool)
            raise RuntimeError("the media decoding process ended unexpectedly") from None

    def _get_pool(self) -> ProcessPoolExecutor:
        import multiprocessing as mp

        with self._lock:
            if self._closed:
                raise RuntimeError("the media decoding process was closed")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=mp.get_context("spawn"), initializer=_child_init
                )
            return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """End the child (after the call in progress, if any); later calls raise."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def pids(self) -> list[int]:
        """The child's process id while it runs (for tests)."""
        pool = self._pool
        procs = getattr(pool, "_processes", None) or {}
        return list(procs)
