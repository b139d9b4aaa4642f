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
from PySide6.QtGui import QUndoStack

from idlora_studio.library.media_types import ImportRejected
from idlora_studio.state.identity_edits import IdentityEditCommand, IdentityFields
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
      ``fields_applied(int, object)`` undo/redo put ``IdentityFields`` on an identity:
                                the editor shows them if that identity is open
      ``save_state_changed(int)`` saves of an identity started, landed or failed

    Typed fields (name, notes, tags, consent) are edited through
    :meth:`commit_identity_fields`: each commit is a command on ``undo_stack`` and is
    written at once on the database worker (there is no separate "save").
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
    fields_applied = Signal(int, object)
    save_state_changed = Signal(int)

    def __init__(self, library: Any, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._runner = runner
        self._summaries: list[Any] = []
        self._refreshing = False
        self._refresh_again = False
        self._loaded_once = False
        self.undo_stack = QUndoStack(self)
        self._saved_fields: dict[int, IdentityFields] = {}
        self._saves_pending: dict[int, int] = {}
        self._save_errors: dict[int, str] = {}
        self._drafts: dict[int, IdentityFields] = {}
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
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        def done(result: Any) -> None:
            if on_done is not None:
                on_done(result)
            if identity_id is not None:
                self.identity_changed.emit(identity_id)
            self.refresh()

        def failed(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
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

    def check_voice_clip(self, path: Path) -> Any:
        """Check a recording as an import would (a ``VoiceImport``), on the calling (worker)
        thread, where the library checks files (its child process in the window)."""
        return self._library.checks.voice(Path(path))

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

    # --- typed fields: undoable, saved as they are committed ------------------------
    def saved_fields(self, identity_id: int, detail: Any = None) -> IdentityFields | None:
        """The fields the library holds for ``identity_id`` once pending saves land.

        With ``detail`` (a freshly loaded ``IdentityDetail``) and no save in flight, the
        detail is the truth and is remembered."""
        if detail is not None and not self.saves_pending(identity_id):
            self._saved_fields[identity_id] = IdentityFields.of(detail)
        return self._saved_fields.get(identity_id)

    def saves_pending(self, identity_id: int) -> int:
        return self._saves_pending.get(identity_id, 0)

    def save_error(self, identity_id: int) -> str:
        """Why the last save of ``identity_id`` failed ("" when it did not)."""
        return self._save_errors.get(identity_id, "")

    def commit_identity_fields(
        self, identity_id: int, after: IdentityFields, before: IdentityFields | None = None
    ) -> bool:
        """Save ``after`` as the identity's fields, as one undoable step. ``before``: what is
        saved, when this state has not seen the identity loaded. False (nothing pushed) when
        nothing differs from what is saved."""
        before = self._saved_fields.get(identity_id, before)
        if before is None:
            raise LookupError(f"identity {identity_id} was not loaded before editing")
        if not after.differs(before):
            return False
        self.undo_stack.push(IdentityEditCommand(self, identity_id, before, after))
        return True

    def _apply_fields(
        self, identity_id: int, before: IdentityFields, after: IdentityFields, *, show: bool
    ) -> None:
        """Write ``after`` (the fields differing from ``before``) on the database worker."""
        changes = after.changes_from(before)
        self._saved_fields[identity_id] = after
        self._drafts.pop(identity_id, None)
        if show:
            self.fields_applied.emit(identity_id, after)
        if not changes:
            return
        self._saves_pending[identity_id] = self.saves_pending(identity_id) + 1
        self._save_errors.pop(identity_id, None)
        self.save_state_changed.emit(identity_id)

        def landed(_: Any = None) -> None:
            left = self.saves_pending(identity_id) - 1
            if left > 0:
                self._saves_pending[identity_id] = left
            else:
                self._saves_pending.pop(identity_id, None)
            self.save_state_changed.emit(identity_id)

        def failed(exc: BaseException) -> None:
            # The library kept what it had: so must our idea of what is saved.
            self._saved_fields[identity_id] = before
            self._save_errors[identity_id] = str(exc)
            landed()

        self._mutate(
            identity_id,
            lambda: self._library.update_identity(identity_id, **changes),
            "Could not save the identity",
            landed,
            failed,
        )

    def draft(self, identity_id: int) -> IdentityFields | None:
        """Typed values that could not be saved yet (e.g. an empty name), kept in memory so
        switching identities never loses them."""
        return self._drafts.get(identity_id)

    def set_draft(self, identity_id: int, fields: IdentityFields | None) -> None:
        if fields is None:
            self._drafts.pop(identity_id, None)
        else:
            self._drafts[identity_id] = fields

    def delete_identity(self, identity_id: int) -> None:
        def done(_: Any) -> None:
            # Edits of a deleted identity cannot be undone any more.
            self._saved_fields.pop(identity_id, None)
            self._drafts.pop(identity_id, None)
            stack = self.undo_stack
            if any(
                getattr(stack.command(i), "identity_id", None) == identity_id
                for i in range(stack.count())
            ):
                stack.clear()
            self.identity_deleted.emit(identity_id)

        self._mutate(
            None,
            lambda: self._library.delete_identity(identity_id),
            "Could not delete the identity",
            done,
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

    def crop_image(
        self,
        identity_id: int,
        image_id: int,
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        """Add the image's suggested crop as a new reference image (the original stays)."""

        def done(added: Any) -> None:
            self.message.emit("Added the cropped picture as a new reference image")
            if on_done is not None:
                on_done(added)

        self._mutate(
            identity_id,
            lambda: self._library.add_cropped_image(image_id),
            "Could not crop the image",
            done,
        )

    def set_clip_window(self, identity_id: int, clip_id: int, start_s: float, end_s: float) -> None:
        """Make ``start_s``..``end_s`` the clip's reference window (what generation uses)."""
        self._mutate(
            identity_id,
            lambda: self._library.set_clip_window(clip_id, start_s, end_s),
            "Could not move the reference window",
        )

    def reset_clip_window(self, identity_id: int, clip_id: int) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.reset_clip_window(clip_id),
            "Could not reset the reference window",
        )

    def set_default_clip(self, identity_id: int, clip_id: int) -> None:
        self._mutate(
            identity_id,
            lambda: self._library.set_default_clip(identity_id, clip_id),
            "Could not change the default clip",
        )
