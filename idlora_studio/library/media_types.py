"""Plain results of checking a file for import, shared by the importers, recorder and UI.

The checks (``image_checks``, ``audio_checks``) produce these; the library stores them.
They are frozen and hold no ORM objects, so they cross threads freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ImportRejected(Exception):  # noqa: N818 - reads better at call sites
    """A file that cannot be imported. ``str(err)`` names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        # pickled with its two arguments (the checks run in a child process)
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ImageImport:
    """A checked reference image, ready to store.

    ``data`` is the encoded image to keep (EXIF orientation applied, metadata stripped),
    ``extension`` its file suffix (".png" or ".jpg"), ``thumbnail`` a small JPEG.
    """

    source: Path
    data: bytes
    extension: str
    width: int
    height: int
    thumbnail: bytes
    faces: tuple[FaceBox, ...] = ()
    suggested_crop: tuple[int, int, int, int] | None = None  # x, y, w, h
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class VoiceImport:
    """A checked voice clip, ready to store.

    ``wav`` is the processed clip (decoded, loudness-normalised, silence-trimmed) encoded as
    a WAV file. ``trimmed_range`` is (start_s, end_s) of the kept part in the *source*;
    ``best_window`` is (start_s, end_s) of the suggested ~5 s window in the *processed* clip.
    """

    source: Path
    wav: bytes
    sample_rate: int
    channels: int
    duration_s: float
    source_duration_s: float
    loudness_lufs: float  # of the source, before normalisation
    gain_db: float  # applied by normalisation
    trimmed_range: tuple[float, float]
    best_window: tuple[float, float]
    clipping: bool
    noisy: bool
    noise_floor_db: float
    peaks: tuple[float, ...] = ()  # ~400 peak values in [0, 1] for drawing a waveform
    warnings: tuple[str, ...] = field(default=())
    speech_s: float = 0.0  # seconds of speech Silero VAD found in the kept part
