"""A small in-memory stand-in for ``Library`` for UI-flow tests (threads: guarded by a lock).

It checks files the cheap way (exists, non-empty, Pillow can open images) so the UI's
refusal paths can be exercised; the real ``Library`` is used by the integration tests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from idlora_studio.library.checking import LocalChecks
from idlora_studio.library.media_types import ImportRejected


@dataclass(frozen=True)
class FakeConsent:
    given_by: str
    date: Any
    scope: str = ""
    document_path: str | None = None


@dataclass(frozen=True)
class Summary:
    id: int
    name: str
    tags: tuple[str, ...]
    thumbnail_path: Path | None
    image_count: int
    clip_count: int
    has_consent: bool
    updated_at: float


@dataclass(frozen=True)
class Image:
    id: int
    path: Path
    thumbnail_path: Path
    width: int
    height: int
    face_count: int = 1
    warnings: tuple[str, ...] = ()
    is_default: bool = False
    original_name: str = ""
    faces: tuple[Any, ...] = ()
    suggested_crop: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Clip:
    id: int
    path: Path
    duration_s: float = 5.0
    sample_rate: int = 48000
    channels: int = 1
    loudness_lufs: float = -23.0
    best_window: tuple[float, float] = (0.0, 5.0)
    source: str = "imported"
    original_name: str = ""
    peaks: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    is_default: bool = False
    suggested_window: tuple[float, float] | None = (0.0, 5.0)

    @property
    def window_moved(self) -> bool:
        return self.suggested_window is not None and self.best_window != self.suggested_window


@dataclass
class Record:
    id: int
    name: str
    notes: str = ""
    tags: tuple[str, ...] = ()
    consent: Any = None
    images: list[Image] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)


@dataclass(frozen=True)
class Detail:
    id: int
    name: str
    notes: str
    tags: tuple[str, ...]
    consent: Any
    images: tuple[Image, ...]
    clips: tuple[Clip, ...]
    default_image_id: int | None
    default_clip_id: int | None


class FakeLibrary:
    def __init__(self, delay_s: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._records: dict[int, Record] = {}
        self._next = 1
        self.delay_s = delay_s
        self.calls: list[str] = []
        self.threads: set[int] = set()
        self.checks = LocalChecks()  # what the recorder's check calls, as on a real library

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        self.threads.add(threading.get_ident())
        if self.delay_s:
            time.sleep(self.delay_s)

    def _id(self) -> int:
        n = self._next
        self._next += 1
        return n

    def list_identities(self, search: str = "", tags: tuple[str, ...] = ()) -> list[Summary]:
        self._enter("list_identities")
        with self._lock:
            out = []
            for r in self._records.values():
                default = next(
                    (i for i in r.images if i.is_default), r.images[0] if r.images else None
                )
                out.append(
                    Summary(
                        r.id,
                        r.name,
                        r.tags,
                        default.thumbnail_path if default else None,
                        len(r.images),
                        len(r.clips),
                        r.consent is not None,
                        0.0,
                    )
                )
            return sorted(out, key=lambda s: s.name.casefold())

    def get_identity(self, identity_id: int) -> Detail:
        self._enter("get_identity")
        with self._lock:
            r = self._records[identity_id]
            di = next((i.id for i in r.images if i.is_default), None)
            dc = next((c.id for c in r.clips if c.is_default), None)
            return Detail(
                r.id, r.name, r.notes, r.tags, r.consent, tuple(r.images), tuple(r.clips), di, dc
            )

    def create_identity(
        self, name: str, notes: str = "", tags: tuple[str, ...] = (), consent: Any = None
    ) -> int:
        self._enter("create_identity")
        with self._lock:
            rid = self._id()
            self._records[rid] = Record(rid, name, notes, tuple(tags), consent)
            return rid

    def update_identity(self, identity_id: int, **changes: Any) -> None:
        self._enter("update_identity")
        with self._lock:
            r = self._records[identity_id]
            if changes.pop("clear_consent", False):
                r.consent = None
            for k, v in changes.items():
                if v is not None:
                    setattr(r, k, tuple(v) if k == "tags" else v)

    def delete_identity(self, identity_id: int) -> None:
        self._enter("delete_identity")
        with self._lock:
            del self._records[identity_id]

    def _check_image(self, path: Path) -> Image:
        from PIL import Image as PILImage

        try:
            with PILImage.open(path) as im:
                w, h = im.size
        except Exception as exc:
            raise ImportRejected(path, "not a readable image") from exc
        return Image(self._id(), path, path, w, h, original_name=path.name)

    def _check_clip(self, path: Path) -> Clip:
        if not path.exists() or path.stat().st_size < 64:
            raise ImportRejected(path, "not a readable audio file")
        return Clip(self._id(), path, original_name=path.name, peaks=(0.2, 0.8, 0.5, 0.3))

    def add_image(self, identity_id: int, path: Path) -> Image:
        self._enter("add_image")
        img = self._check_image(Path(path))
        with self._lock:
            r = self._records[identity_id]
            img = replace(img, is_default=not r.images)
            r.images.append(img)
        return img

    def add_voice_clip(self, identity_id: int, path: Path, source: str = "imported") -> Clip:
        self._enter("add_voice_clip")
        clip = self._check_clip(Path(path))
        with self._lock:
            r = self._records[identity_id]
            clip = replace(clip, is_default=not r.clips, source=source)
            r.clips.append(clip)
        return clip

    def create_identity_with_media(
        self, name: str, images: Any, clips: Any, consent: Any = None
    ) -> int:
        self._enter("create_identity_with_media")
        checked_images = [self._check_image(Path(p)) for p in images]
        checked_clips = [self._check_clip(Path(p)) for p in clips]
        with self._lock:
            rid = self._id()
            r = Record(rid, name, consent=consent)
            r.images = [replace(i, is_default=n == 0) for n, i in enumerate(checked_images)]
            r.clips = [replace(c, is_default=n == 0) for n, c in enumerate(checked_clips)]
            self._records[rid] = r
            return rid

    def _find_media(self, media_id: int) -> tuple[Record, str, int]:
        for r in self._records.values():
            for n, i in enumerate(r.images):
                if i.id == media_id:
                    return r, "images", n
            for n, c in enumerate(r.clips):
                if c.id == media_id:
                    return r, "clips", n
        raise KeyError(media_id)

    def remove_image(self, image_id: int) -> None:
        with self._lock:
            r, kind, n = self._find_media(image_id)
            r.images.pop(n)

    def remove_clip(self, clip_id: int) -> None:
        with self._lock:
            r, kind, n = self._find_media(clip_id)
            r.clips.pop(n)

    def set_default_image(self, identity_id: int, image_id: int) -> None:
        with self._lock:
            r = self._records[identity_id]
            r.images = [replace(i, is_default=i.id == image_id) for i in r.images]

    def set_default_clip(self, identity_id: int, clip_id: int) -> None:
        with self._lock:
            r = self._records[identity_id]
            r.clips = [replace(c, is_default=c.id == clip_id) for c in r.clips]

    def set_clip_window(self, clip_id: int, start_s: float, end_s: float) -> Clip:
        self._enter("set_clip_window")
        with self._lock:
            r, _, n = self._find_media(clip_id)
            r.clips[n] = replace(r.clips[n], best_window=(float(start_s), float(end_s)))
            return r.clips[n]

    def reset_clip_window(self, clip_id: int) -> Clip:
        self._enter("reset_clip_window")
        with self._lock:
            r, _, n = self._find_media(clip_id)
            r.clips[n] = replace(r.clips[n], best_window=r.clips[n].suggested_window)
            return r.clips[n]

    def close(self) -> None:
        pass
