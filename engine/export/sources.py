"""Reading the clips' source files: probe, frame-accurate video reading, whole-clip audio."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.api import MediaError
from engine.export.spec import ClipSpec
from engine.media.video import open_input


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    fps: float
    width: int
    height: int
    frames: int  # 0 when unknown
    duration_s: float
    has_audio: bool


def probe(path: Path) -> SourceInfo:
    container = open_input(path)
    try:
        if not container.streams.video:
            raise MediaError(path, "has no video track")
        vs = container.streams.video[0]
        fps = float(vs.average_rate or vs.base_rate or 0)
        if fps <= 0:
            raise MediaError(path, "has no usable frame rate")
        frames = int(vs.frames or 0)
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps
        if frames == 0:
            frames = round(duration * fps)
        return SourceInfo(
            path=path,
            fps=fps,
            width=int(vs.codec_context.width),
            height=int(vs.codec_context.height),
            frames=frames,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


class VideoReader:
    """Decodes one source sequentially and hands out frames by source index.

    Indices come from timestamps (``round((pts - start) * time_base * fps)``), so a file
    with a dropped or duplicated frame still maps each index to the right picture. Asking
    for a late index first seeks to the key frame before it.
    """

    _SEEK_AFTER_S = 1.0

    def __init__(self, info: SourceInfo) -> None:
        self.info = info
        self._container = open_input(info.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._origin = self._stream.start_time or 0
        self._tb = self._stream.time_base
        self._iter: Iterator[Any] | None = None
        self._current: Any = None
        self._current_index = -1
        self._next: Any = None
        self._next_index = -1
        self._count = 0

    def close(self) -> None:
        self._container.close()

    def _index_of(self, frame: Any) -> int:
        if frame.pts is None or self._tb is None:
            return self._count
        return round(float((frame.pts - self._origin) * self._tb) * self.info.fps)

    def _pull(self) -> bool:
        import av

        assert self._iter is not None
        try:
            frame = next(self._iter)
        except StopIteration:
            return False
        except av.FFmpegError as exc:
            raise MediaError(self.info.path, f"video could not be decoded ({exc})") from exc
        self._next, self._next_index = frame, self._index_of(frame)
        self._count += 1
        return True

    def get(self, index: int) -> Any:
        """The decoded frame showing source frame ``index`` (the last one at the end)."""
        if self._iter is None:
            if index / self.info.fps > self._SEEK_AFTER_S and self._tb is not None:
                target = self._origin + int((index - 0.5) / self.info.fps / self._tb)
                with contextlib.suppress(Exception):  # unseekable: decode from the start
                    self._container.seek(max(target, self._origin), stream=self._stream)
            self._iter = iter(self._container.decode(self._stream))
            if not self._pull():
                raise MediaError(self.info.path, "has no decodable video frames")
        # Advance while the next decoded frame is still at or before the wanted index.
        while self._next is not None and self._next_index <= index:
            self._current, self._current_index = self._next, self._next_index
            self._next = None
            if not self._pull():
                break
        if self._current is None:  # the first decoded frame is after `index`
            return self._next
        return self._current


def load_clip_audio(clip: ClipSpec, info: SourceInfo, rate: int) -> np.ndarray:
    """The clip's whole sound as float32 (2, N) at ``rate``; sample 0 = the first frame."""
    import av

    path = clip.audio_path or clip.video_path
    if clip.audio_path is None and not info.has_audio:
        return np.zeros((2, 0), np.float32)
    container = open_input(path)
    try:
        if not container.streams.audio:
            if clip.audio_path is not None:
                raise MediaError(path, "has no audio track")
            return np.zeros((2, 0), np.float32)
        stream = container.streams.audio[0]
        origin_s = 0.0
        if clip.audio_path is None and container.streams.video:
            vs = container.streams.video[0]
            if vs.start_time is not None and vs.time_base is not None:
                origin_s = float(vs.start_time * vs.time_base)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        chunks: list[np.ndarray] = []
        first_s: float | None = None
        try:
            for frame in container.decode(stream):
                if first_s is None:
                    first_s = float(frame.time) if frame.time is not None else origin_s
                frame.pts = None
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        except av.FFmpegError as exc:
            raise MediaError(path, f"audio could not be decoded ({exc})") from exc
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    finally:
        container.close()
    audio = (
        np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
        if chunks
        else np.zeros((2, 0), np.float32)
    )
    # Align the first decoded sample with the first video frame.
    shift = round(((first_s or origin_s) - origin_s) * rate)
    if shift > 0:
        audio = np.pad(audio, ((0, 0), (shift, 0)))
    elif shift < 0:
        audio = audio[:, -shift:]
    return np.ascontiguousarray(audio)
