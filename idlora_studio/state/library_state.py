"""The identity library as observable state for the GUI.

``LibraryState`` keeps the current list of identity summaries and runs every ``Library``
call on a serial ``TaskRunner`` (one database thread, calls in submit order), so the GUI
thread never waits on SQLite, decoding or thumbnail generation. Results come back as
signals; only ids and the library's frozen dataclasses cross threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from idlora_studio.library.media_types import ImportRejected
from idlora_studio.workers.tasks import TaskRunner

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".mp3",
        ".m4a",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".aac",
        ".wma",
        ".aif",
        ".aiff",
        ".mp4",
        ".mov",
        ".mkv",
        ".webm",
        ".m4v",
    }
)


def classify_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[Path], list[Path]]:
    """Split dropped paths into (images, clips, unsupported) by file extension."""
    images: list[Path] = []
    clips: list[Path] = []
    other: list[Path] = []
    for raw in paths:
        path = Path(raw)
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            images.append(path)
        elif suffix in AUDIO_EXTENSIONS:
            clips.append(path)
        else:
            other.append(path)
    return images, clips, other


def name_from_files(paths: Sequence[Path], taken: Iterable[str] = ()) -> str:
    """A readable identity name from the first file name, made unique against ``taken``.

    ``"anna_smith-01.jpg"`` gives ``"Anna Smith"``; a second one gives ``"Anna Smith 2"``.
    """
    stem = paths[0].stem if paths else ""
    words = re.sub(r"[_\-.]+", " ", stem)
    words = re.sub(r"\b\d+\b", " ", words)
    words = " ".join(w[:1].upper() + w[1:] for w in words.split())
    base = words or "New identity"
    existing = {t.casefold() for t in taken}
    name, n = base, 2
    while name.casefold() in existing:
        name = f"{base} {n}"
        n += 1
    return name


def _rejection_text(path: Path, exc: BaseException) -> str:
    if isinstance(exc, ImportRejected):
        return str(exc)
    return f"{path.name}: {exc}"


class LibraryState(QObject):
    """Summaries of all identities plus actions on them, each run on the database worker.

    Signals:
      ``identities_changed()``  the summary list was reloaded (``summaries``)
      ``identity_changed(int)`` an identity was modified; reload its detail if shown
      ``identity_loaded(object)`` an ``IdentityDetail`` requested by ``load_identity``
      ``identity_created(int)`` / ``identity_deleted(int)``
      ``import_failed(str)``    a file was refused; the text names the file
      ``error(str)``            any other failure, as a sentence
      ``busy_changed(bool)``    whether database work is in flight
    """

    identities_changed = Signal()
    identity_changed = Signal(int)
    identity_loaded = Signal(object)
    identity_created = Signal(int)
    identity_deleted = Signal(int)
    import_failed = Signal(str)
    error = Signal(str)
    busy_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, library: Any, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._runner = runner
        self._summaries: list[Any] = []
        self._refreshing = False
        self._refresh_again = False
        self._loaded_once = False
        runner.idle_changed.connect(lambda idle: self.busy_changed.emit(not idle))

    # --- queries -------------------------------------------------------------------
    @property
    def summaries(self) -> list[Any]:
        return list(self._summaries)

    @property
    def loaded(self) -> bool:
        return self._loaded_once

    def summary(self, identity_id: int) -> Any | None:
        return next((s for s in self._summaries if s.id == identity_id), None)

    def all_tags(self) -> list[str]:
        tags = {t for s in self._summaries for t in s.tags}
        return sorted(tags, key=str.casefold)

    def names(self) -> list[str]:
        return [s.name for s in self._summaries]

    def refresh(self) -> None:
        """Reload the summary list (coalesced: at most one reload in flight)."""
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self._runner.submit(self._library.list_identities, self._on_listed, self._on_list_error)

    def on_library_changed(self, tables: frozenset[str]) -> None:
        """A committed library write (from anywhere: an import, a bundle, a job) touched
        ``tables``: reload the grid when identities may have changed."""
        from idlora_studio.state.changes import IDENTITY_TABLES

        if tables & IDENTITY_TABLES:
            self.refresh()

    def _on_listed(self, summaries: list[Any]) -> None:
        self._summaries = list(summaries)
        self._loaded_once = True
        self._refreshing = False
        self.identities_changed.emit()
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _on_list_error(self, exc: BaseException) -> None:
        self._refreshing = False
        self.error.emit(f"Could not read the library: {exc}")

    def load_identity(self, identity_id: int) -> None:
        self._runner.submit(
            lambda: self._library.get_identity(identity_id),
            self.identity_loaded.emit,
            lambda exc: self.error.emit(f"Could not open the identity: {exc}"),
        )

    # --- actions -------------------------------------------------------------------
    def _mutate(
        self,
        identity_id: int | None,
        fn: Callable[[], Any],
        failure: str,
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        def done(result: Any) -> None:
            if on_done is not None:
                on_done(result)
            if identity_id is not None:
                self.identity_changed.emit(identity_id)
            self.refresh()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, ImportRejected):
                self.import_failed.emit(str(exc))
            else:
                self.error.emit(f"{failure}: {exc}")
            if identity_id is not None:
                self.identity_changed.emit(identity_id)

        self._runner.submit(fn, done, failed)

    def create_identity(self, name: str, **fields: Any) -> None:
        def done(result: Any) -> None:
            self.identity_created.emit(int(getattr(result, "identity_id", result)))

        self._mutate(
            None,
            lambda: self._library.create_identity(name, **fields),
            "Could not create the identity",
            done,
        )

    def create_identity_from_files(
        self, paths: Sequence[Path | str], name: str | None = None
    ) -> bool:
        """New identity from dropped files, all imported in one transaction.

        Returns False (and emits ``import_failed``) without touching the library when some
        file is of an unsupported type; a file the importers reject fails the whole drop.
        """
        images, clips, other = classify_files(paths)
        if other:
            self.import_failed.emit(
                "; ".join(f"{p.name}: not an image or audio file" for p in other)
            )
            return False
        if not images and not clips:
            return False
        all_files = [*images, *clips]
        identity_name = name or name_from_files(all_files, self.names())

        def work() -> Any:
            return self._library.create_identity_with_media(identity_name, images, clips, None)

        def done(result: Any) -> None:
            new_id = int(getattr(result, "identity_id", result))
            text = f"Created “{identity_name}” from {len(all_files)} file(s)"
            warnings = tuple(getattr(result, "warnings", ()) or ())
            if warnings:
                text += " — " + "; ".join(dict.fromkeys(warnings))
            self.message.emit(text)
            self.identity_created.emit(new_id)

        self._mutate(None, work, "Could not create the identity", done)
        return True

    def add_files(self, identity_id: int, paths: Sequence[Path | str]) -> bool:
        """Add images and clips to an identity; each refused file is reported by name."""
        images, clips, other = classify_files(paths)
        for p in other:
            self.import_failed.emit(f"{p.name}: not an image or audio file")
        if not images and not clips:
            return False
        lib = self._library

        def work() -> tuple[int, list[str]]:
            added = 0
            problems: list[str] = []
            for p in images:
                try:
                    lib.add_image(identity_id, p)
                    added += 1
                except Exception as exc:  # noqa: BLE001 - reported per file
                    problems.append(_rejection_text(p, exc))
            for p in clips:
                try:
                    lib.add_voice_clip(identity_id, p)
                    added += 1
                except Exception as exc:  # noqa: BLE001
                    problems.append(_rejection_text(p, exc))
            return added, problems

        def done(result: tuple[int, list[str]]) -> None:
            added, problems = result
            if added:
                self.message.emit(f"Added {added} file(s)")
            for text in problems:
                self.import_failed.emit(text)

        self._mutate(identity_id, work, "Could not add the files", done)
        return True

    def add_recorded_clip(self, identity_id: int, path: Path | str) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.add_voice_clip(identity_id, Path(path), source="recorded"),
            "Could not add the recording",
        )

    def store_recorded_clip(self, identity_id: int, path: Path) -> Any:
        """Store a finished recording now, on the calling (worker) thread; follow with
        :meth:`notify_changed` on the GUI thread. For dialogs that run their own workers."""
        return self._library.add_voice_clip(identity_id, Path(path), source="recorded")

    def notify_changed(self, identity_id: int | None = None) -> None:
        """Something changed the library behind this state's back: reload what is shown."""
        if identity_id is not None:
            self.identity_changed.emit(identity_id)
        self.refresh()

    @property
    def library(self) -> Any:
        return self._library

    def update_identity(self, identity_id: int, **changes: Any) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.update_identity(identity_id, **changes),
            "Could not save the identity",
        )

    def delete_identity(self, identity_id: int) -> None:
        self._mutate(
            None,
            lambda: self._library.delete_identity(identity_id),
            "Could not delete the identity",
            lambda _: self.identity_deleted.emit(identity_id),
        )

    def remove_image(self, identity_id: int, image_id: int) -> None:
        self._mutate(
            identity_id, lambda: self._library.remove_image(image_id), "Could not remove the image"
        )

    def remove_clip(self, identity_id: int, clip_id: int) -> None:
        self._mutate(
            identity_id, lambda: self._library.remove_clip(clip_id), "Could not remove the clip"
        )

    def set_default_image(self, identity_id: int, image_id: int) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.set_default_image(identity_id, image_id),
            "Could not change the default image",
        )

    def set_default_clip(self, identity_id: int, clip_id: int) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.set_default_clip(identity_id, clip_id),
            "Could not change the default clip",
        )
