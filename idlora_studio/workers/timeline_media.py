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

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from idlora_studio.child_pool import ChildPool

THUMB_STEP_S = 0.2
THUMB_HEIGHT = 56
PEAKS_PER_S = 200
FRAME_MAX_WIDTH = 480
PLAYBACK_RATE = 48_000
#: the longest one thumbnail strip or waveform may take to decode in the child
DECODE_TIMEOUT_S = 120.0

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
class MediaProcess(ChildPool):
    """The timeline's decoding process: a :class:`~idlora_studio.child_pool.ChildPool` whose
    calls are stopped after :data:`DECODE_TIMEOUT_S` (a take whose decoding hangs must not
    leave every later thumbnail waiting). Thread-safe; :meth:`close` at shutdown."""

    def __init__(self) -> None:
        super().__init__("media decoding")

    def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        return super().run(fn, *args, timeout=timeout or DECODE_TIMEOUT_S)
