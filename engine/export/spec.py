"""What an export is made of: the timeline (clips on one track), its checks and its plan.

A plan cuts the output into *segments*: runs of frames that come from one clip or from a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.api import InvalidRequestError
from engine.media.video import fps_fraction

FORMATS = ("mp4", "mov", "wav", "png")
QUALITIES = ("high", "medium", "small")


@dataclass(frozen=True)
class ClipSpec:
    """One clip on the track.

    ``in_frame``/``out_frame`` (exclusive) count frames of the clip at the *timeline's* frame
    rate (for the usual case of a take made at the timeline's rate: the take's own frame
    numbers); the clip covers ``out_frame - in_frame`` timeline frames from
    ``position_frames``. ``audio_path`` takes the sound from a separate file (e.g. a take's
    WAV) instead of the video's audio track. ``recipe`` goes into the export's sidecar.
    """

    video_path: Path
    in_frame: int
    out_frame: int
    position_frames: int
    recipe: dict[str, Any] | None = None
    audio_path: Path | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "video_path", Path(self.video_path))
        if self.audio_path is not None:
            object.__setattr__(self, "audio_path", Path(self.audio_path))
        for name in ("in_frame", "out_frame", "position_frames"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def length_frames(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def end_frames(self) -> int:
        return self.position_frames + self.length_frames


@dataclass(frozen=True)
class TimelineSpec:
    """A single-track timeline: output frame rate, size, audio rate and clips."""

    fps: float
    width: int
    height: int
    sample_rate: int = 48_000
    clips: tuple[ClipSpec, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "clips", tuple(self.clips))

    @property
    def duration_frames(self) -> int:
        return max((c.end_frames for c in self.clips), default=0)

    @property
    def duration_s(self) -> float:
        return self.duration_frames / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class ExportResult:
    """A finished export. ``content_credentials``: a C2PA manifest is embedded in the file."""

    path: Path
    sidecar_path: Path
    duration_s: float
    frames: int
    format: str = "mp4"
    sha256: str = ""
    content_credentials: bool = False


@dataclass(frozen=True)
class Segment:
    start: int  # first output frame
    end: int  # exclusive
    clip: int | None  # index into spec.clips, None = gap


def plan(spec: TimelineSpec) -> list[Segment]:
    total = spec.duration_frames
    owner = np.full(total, -1, dtype=np.int64)
    for i, c in enumerate(spec.clips):
        owner[c.position_frames : c.end_frames] = i
    segments: list[Segment] = []
    start = 0
    for t in range(1, total + 1):
        if t == total or owner[t] != owner[start]:
            idx = int(owner[start])
            segments.append(Segment(start, t, None if idx < 0 else idx))
            start = t
    return segments


def check_spec(spec: TimelineSpec) -> None:
    fps_fraction(spec.fps)
    if spec.width < 2 or spec.height < 2:
        raise InvalidRequestError(f"The output size {spec.width}x{spec.height} is too small.")
    if spec.sample_rate < 8000 or spec.sample_rate > 192_000:
        raise InvalidRequestError(f"The audio rate {spec.sample_rate} Hz is not supported.")
    if not spec.clips:
        raise InvalidRequestError("The timeline is empty: there is nothing to export.")
    for n, c in enumerate(spec.clips, 1):
        if c.in_frame < 0 or c.out_frame <= c.in_frame or c.position_frames < 0:
            raise InvalidRequestError(
                f"Clip {n} ({Path(c.video_path).name}) has an invalid range: in {c.in_frame}, "
                f"out {c.out_frame}, position {c.position_frames}."
            )


def even(v: int) -> int:
    return max(2, int(v) - int(v) % 2)


def fit(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """Largest even size with the source's shape inside the output, and its offset."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w = min(dst_w, even(round(src_w * scale)))
    h = min(dst_h, even(round(src_h * scale)))
    return w, h, (dst_w - w) // 2 // 2 * 2, (dst_h - h) // 2 // 2 * 2
