"""The library's change feed as a Qt signal, so every view refreshes from one place.

The library (``library.db.ChangeFeed``) reports, after each committed write, the tables it
touched, on whatever thread wrote. :class:`LibraryChanges` re-emits that as
``tables_changed(frozenset)``; receivers living in the GUI thread get it queued. A bundle
import, a finished job or another window's edit thus reaches the grid, the project list and
the Generate page without a restart.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

#: Tables whose changes alter what the identity grid shows.
IDENTITY_TABLES = frozenset(
    {"identities", "reference_images", "voice_clips", "tags", "identity_tags"}
)
PROJECT_TABLES = frozenset({"projects"})
TAKE_TABLES = frozenset({"takes"})


class LibraryChanges(QObject):
    """``tables_changed(frozenset[str])`` after each committed library write (any thread)."""

    tables_changed = Signal(object)

    def __init__(self, library: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        feed = getattr(library, "changes", None)
        self._unsubscribe = feed.subscribe(self._on_change) if feed is not None else None

    def _on_change(self, tables: frozenset[str]) -> None:
        self.tables_changed.emit(tables)

    def close(self) -> None:
        """Stop listening (at shutdown, before this object goes away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
