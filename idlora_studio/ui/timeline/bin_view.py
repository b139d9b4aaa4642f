"""The project's bin: takes with thumbnails; drag them onto the timeline or out of the window.

A drag carries :data:`TAKE_MIME` (take ids, for the timeline) and the takes' own MP4 files as
``text/uri-list`` under readable names (``DragExporter.take_file``: a hard link, made when
the drag starts; nothing is rendered, neither for a drop on the timeline nor outside).
Thumbnails come from the take files through ``MediaCache``. Right-click: add to the
timeline, rename, reveal the file, regenerate (same seed) or vary (new seed), remove.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDrag, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QWidget,
)

from idlora_studio.state.project import ProjectState
from idlora_studio.ui.drag_export import DragExporter
from idlora_studio.ui.file_actions import build_menu, reveal_file
from idlora_studio.ui.thumbnails import picture_icon
from idlora_studio.ui.timeline.media_cache import MediaCache
from idlora_studio.ui.timeline.timeline_widget import encode_take_mime

TAKE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ICON = QSize(128, 72)


class BinView(QListWidget):
    """Icon list of the bin's takes.

    ``regenerate_requested(take_id)`` / ``vary_requested(take_id)``: the user asked to queue
    the take's recipe again with the same / a new seed (the window connects the job queue;
    the menu lists them only then)."""

    regenerate_requested = Signal(int)
    vary_requested = Signal(int)

    def __init__(
        self,
        state: ProjectState,
        cache: MediaCache,
        exporter: DragExporter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("binView")
        self.state = state
        self.cache = cache
        self.exporter = exporter
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(ICON)
        self.setGridSize(QSize(ICON.width() + 16, ICON.height() + 56))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        state.bin_changed.connect(self.refresh)
        cache.thumbnails_ready.connect(self._thumbs_ready)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for m in self.state.bin:
            text = f"{m.label}\n{m.duration_s:.1f} s · {m.width}×{m.height}"
            if m.voice_match is not None:  # the speaker score, once the take was scored
                text += f"\nvoice match {m.voice_match:.2f}"
            item = QListWidgetItem(text)
            item.setData(TAKE_ID_ROLE, m.take_id)
            who = f" · {m.identity_name}" if m.identity_name else ""
            seed = f" · seed {m.seed}" if m.seed is not None else ""
            match = (
                f"\nVoice match {m.voice_match:.2f} (speaker similarity to the reference clip)"
                if m.voice_match is not None
                else ""
            )
            item.setToolTip(f"Take {m.take_id}: {m.label}{who}{seed}{match}")
            item.setIcon(self._icon(m.take_id))
            self.addItem(item)

    def _icon(self, take_id: int) -> QIcon:
        m = self.state.media(take_id)
        strip = self.cache.thumbnails(m)
        pix = QPixmap(ICON)
        pix.fill(QColor("#262a33"))
        if strip is not None and strip.images:
            img: QImage = strip.images[len(strip.images) // 3]
            scaled = img.scaled(
                ICON, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            p = QPainter(pix)
            p.drawImage(
                (ICON.width() - scaled.width()) // 2, (ICON.height() - scaled.height()) // 2, scaled
            )
            p.end()
        return picture_icon(pix)

    def _thumbs_ready(self, video_hash: str) -> None:
        for i in range(self.count()):
            item = self.item(i)
            take_id = int(item.data(TAKE_ID_ROLE))
            if self.state.media(take_id).video_hash == video_hash:
                item.setIcon(self._icon(take_id))

    def show_take(self, take_id: int) -> bool:
        """Select the take's item alone and scroll to it; False if it is not in the bin."""
        for i in range(self.count()):
            item = self.item(i)
            if int(item.data(TAKE_ID_ROLE)) == take_id:
                self.clearSelection()
                self.setCurrentItem(item)
                item.setSelected(True)
                self.scrollToItem(item)
                return True
        return False

    def selected_take_ids(self) -> list[int]:
        return [int(i.data(TAKE_ID_ROLE)) for i in self.selectedItems()]

    # ------------------------------------------------------------------ drag
    def take_file(self, take_id: int) -> Any:
        """The take's MP4 under its readable drag name (None without an exporter)."""
        if self.exporter is None:
            return None
        return self.exporter.take_file(self.state.media(take_id), self.state.name)

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:  # noqa: N802
        ids = [int(i.data(TAKE_ID_ROLE)) for i in items]
        mime = encode_take_mime(ids)
        if self.exporter is not None:
            urls = []
            for take_id in ids:
                try:
                    urls.append(QUrl.fromLocalFile(str(self.take_file(take_id))))
                except OSError as exc:  # the drop on the timeline still works
                    self.state.error.emit(f"Could not prepare take {take_id} for dragging: {exc}")
            if urls:
                mime.setUrls(urls)
        return mime

    def startDrag(self, supported: Qt.DropAction) -> None:  # noqa: N802
        items = self.selectedItems()
        if not items:
            return
        mime = self.mimeData(items)
        if self.exporter is not None:
            self.exporter.exec_drag(self, mime, items[0].icon().pixmap(QSize(96, 54)))
            return
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)

    # ------------------------------------------------------------------ menu
    def context_menu(self, take_id: int) -> QMenu:
        """The right-click menu of a take."""
        st = self.state
        entries: list[Any] = [
            ("Add to timeline", lambda: st.append_take(take_id), True),
            ("Rename…", lambda: self.rename(take_id), st.takes is not None),
            (
                "Reveal file",
                lambda: reveal_file(self.take_file(take_id)),
                self.exporter is not None,
            ),
        ]
        again = [
            ("Regenerate (same seed)", self.regenerate_requested),
            ("Vary (new seed)", self.vary_requested),
        ]
        wired = [(t, s) for t, s in again if self._connected(s)]
        if wired:
            entries.append(None)
            entries += [(t, lambda s=s: s.emit(take_id), True) for t, s in wired]
        entries += [None, ("Remove from bin", lambda: st.remove_from_bin(take_id), True)]
        return build_menu(self, entries)

    def _connected(self, signal: Any) -> bool:
        from PySide6.QtCore import QMetaMethod

        return self.isSignalConnected(QMetaMethod.fromSignal(signal))

    def rename(self, take_id: int, label: str | None = None) -> None:
        if label is None:
            current = self.state.media(take_id).label
            label, ok = QInputDialog.getText(self, "Rename take", "Name:", text=current)
            if not ok:
                return
        if label.strip():
            self.state.rename_take(take_id, label)

    def _context_menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        self.context_menu(int(item.data(TAKE_ID_ROLE))).exec(self.viewport().mapToGlobal(pos))
