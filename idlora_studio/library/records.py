"""What :class:`~idlora_studio.library.repository.Library` returns: frozen records, never ORM
objects, so any thread may hold them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .media_types import FaceBox


@dataclass(frozen=True)
class ConsentRecord:
    """Who agreed to being in the library, when, to what, and the signed document if any.

    ``document_path`` given to the library may point anywhere (it is copied into the media
    store); the library returns it pointing into the store.
    """

    given_by: str
    date: dt.date
    scope: str
    document_path: Path | None = None


@dataclass(frozen=True)
class IdentitySummary:
    id: int
    name: str
    tags: tuple[str, ...]
    thumbnail_path: Path | None
    image_count: int
    clip_count: int
    has_consent: bool
    updated_at: dt.datetime


@dataclass(frozen=True)
class ImageInfo:
    id: int
    path: Path
    thumbnail_path: Path | None
    width: int
    height: int
    face_count: int
    warnings: tuple[str, ...]
    is_default: bool
    sha256: str
    extension: str
    original_name: str
    faces: tuple[FaceBox, ...]
    suggested_crop: tuple[int, int, int, int] | None
    created_at: dt.datetime


@dataclass(frozen=True)
class ClipInfo:
    id: int
    path: Path
    duration_s: float
    sample_rate: int
    channels: int
    loudness_lufs: float
    best_window: tuple[float, float]
    source: str
    original_name: str
    peaks: tuple[float, ...]
    warnings: tuple[str, ...]
    is_default: bool
    sha256: str
    gain_db: float
    trimmed_range: tuple[float, float]
    clipping: bool
    noisy: bool
    created_at: dt.datetime
    #: The window the import analysis suggested; ``best_window`` is the one generation uses
    #: (equal unless the user moved it with :meth:`Library.set_clip_window`).
    suggested_window: tuple[float, float] | None = None

    @property
    def window_moved(self) -> bool:
        """True when the chosen window differs from the suggested one."""
        return self.suggested_window is not None and self.best_window != self.suggested_window


@dataclass(frozen=True)
class IdentityDetail:
    id: int
    name: str
    notes: str
    tags: tuple[str, ...]
    consent: ConsentRecord | None
    images: tuple[ImageInfo, ...]
    clips: tuple[ClipInfo, ...]
    default_image_id: int | None
    default_clip_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def default_image(self) -> ImageInfo | None:
        return next((i for i in self.images if i.is_default), None)

    @property
    def default_clip(self) -> ClipInfo | None:
        return next((c for c in self.clips if c.is_default), None)


@dataclass(frozen=True)
class ImageAdded:
    image_id: int
    warnings: tuple[str, ...]
    faces: tuple[FaceBox, ...]
    suggested_crop: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class ClipAdded:
    clip_id: int
    warnings: tuple[str, ...]
    duration_s: float
    best_window: tuple[float, float]


@dataclass(frozen=True)
class IdentityCreated:
    identity_id: int
    images: tuple[ImageAdded, ...]
    clips: tuple[ClipAdded, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for r in (*self.images, *self.clips) for w in r.warnings)
