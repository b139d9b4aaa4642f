"""Timeline rendering: the plan turned into output frames and the audio samples under them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine.api import InvalidRequestError
from engine.export.sources import SourceInfo, VideoReader, load_clip_audio
from engine.export.spec import ClipSpec, Segment, TimelineSpec, fit, plan
from engine.media.video import fps_fraction


class Renderer:
    """Turns the plan into output video frames and audio samples, one frame at a time."""

    def __init__(
        self,
        spec: TimelineSpec,
        infos: dict[Path, SourceInfo],
        width: int,
        height: int,
        pix_fmt: str,
    ) -> None:
        self.spec = spec
        self.infos = infos
        self.width, self.height = width, height
        self.pix_fmt = pix_fmt
        self.rate = fps_fraction(spec.fps)
        self.sr = spec.sample_rate
        self._black: Any = None
        self._audio_cache: dict[Path | tuple[Path, Path], np.ndarray] = {}

    # -- time
    def sample_at(self, frame: int) -> int:
        """First audio sample of output frame ``frame`` (exact for whole-number rates)."""
        return round(Fraction(frame) * self.sr / self.rate)

    def source_index(self, clip: ClipSpec, local: int) -> int:
        info = self.infos[Path(clip.video_path)]
        t = (clip.in_frame + local) / float(self.rate)
        return int(math.floor(t * info.fps + 1e-6))

    # -- video
    def black(self) -> Any:
        import av

        if self._black is None:
            arr = np.zeros((self.height, self.width, 3), np.uint8)
            self._black = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(
                format=self.pix_fmt
            )
        return self._black

    def convert(self, frame: Any, info: SourceInfo) -> Any:
        """Scale a decoded frame to the output size and pixel format (letterboxed)."""
        import av

        w, h, x, y = fit(frame.width, frame.height, self.width, self.height)
        if (w, h) == (self.width, self.height):
            return frame.reformat(width=w, height=h, format=self.pix_fmt)
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        canvas[y : y + h, x : x + w] = frame.to_ndarray(width=w, height=h, format="rgb24")
        return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format=self.pix_fmt)

    def video_frames(self, seg: Segment) -> Iterator[Any]:
        """Output frames of ``seg`` in the output pixel format (``pts`` not set)."""
        if seg.clip is None:
            for _ in range(seg.start, seg.end):
                yield self.black()
            return
        clip = self.spec.clips[seg.clip]
        info = self.infos[Path(clip.video_path)]
        reader = VideoReader(info)
        try:
            for t in range(seg.start, seg.end):
                frame = reader.get(self.source_index(clip, t - clip.position_frames))
                yield self.convert(frame, info)
        finally:
            reader.close()

    def rgb_frame(self, t: int) -> np.ndarray:
        """Output frame ``t`` as uint8 RGB (H, W, 3), for PNG export."""
        for seg in plan(self.spec):
            if seg.start <= t < seg.end:
                if seg.clip is None:
                    return np.zeros((self.height, self.width, 3), np.uint8)
                clip = self.spec.clips[seg.clip]
                info = self.infos[Path(clip.video_path)]
                reader = VideoReader(info)
                try:
                    frame = reader.get(self.source_index(clip, t - clip.position_frames))
                    w, h, x, y = fit(frame.width, frame.height, self.width, self.height)
                    canvas = np.zeros((self.height, self.width, 3), np.uint8)
                    canvas[y : y + h, x : x + w] = frame.to_ndarray(
                        width=w, height=h, format="rgb24"
                    )
                    return canvas
                finally:
                    reader.close()
        raise InvalidRequestError(f"Frame {t} is outside the timeline.")

    # -- audio
    def _clip_audio(self, clip: ClipSpec) -> np.ndarray:
        key: Path | tuple[Path, Path] = Path(clip.video_path)
        if clip.audio_path is not None:
            key = (Path(clip.video_path), Path(clip.audio_path))
        audio = self._audio_cache.get(key)
        if audio is None:
            audio = load_clip_audio(clip, self.infos[Path(clip.video_path)], self.sr)
            self._audio_cache.clear()  # keep one clip's sound at a time
            self._audio_cache[key] = audio
        return audio

    def audio(self, seg: Segment, frame_from: int, frame_to: int) -> np.ndarray:
        """Samples of output frames ``[frame_from, frame_to)`` inside ``seg``, (2, n)."""
        n0, n1 = self.sample_at(frame_from), self.sample_at(frame_to)
        if seg.clip is None or n1 <= n0:
            return np.zeros((2, max(0, n1 - n0)), np.float32)
        clip = self.spec.clips[seg.clip]
        src = self._clip_audio(clip)
        # The clip's frame `in_frame` starts at this source sample; the output segment that
        # starts at frame `position` starts at sample_at(position): both cut on frames.
        src0 = self.sample_at(clip.in_frame) + (n0 - self.sample_at(clip.position_frames))
        out = src[:, max(0, src0) : max(0, src0 + (n1 - n0))]
        if out.shape[1] < n1 - n0:
            out = np.pad(out, ((0, 0), (0, n1 - n0 - out.shape[1])))
        return out
