"""The project's bin: takes with thumbnails; drag them onto the timeline or out of the window.

A drag carries :data:`TAKE_MIME` (take ids, for the timeline). Pressing an item already starts
rendering its drag-export file in the background, so by the time the pointer leaves the
window the file is usually there and the same drag also carries ``text/uri-list``; when it
is not there yet, the drag still works inside the Studio and the popup shows the render.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt
from PySide6.QtGui import QColor, QDrag, QIcon, QImage, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from idlora_studio.state.project import ProjectState
from idlora_studio.ui.drag_export import DragExporter, file_mime
from idlora_studio.ui.timeline.media_cache import MediaCache
from idlora_studio.ui.timeline.timeline_widget import encode_take_mime

TAKE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ICON = QSize(128, 72)


class BinView(QListWidget):
    """Icon list of the bin's takes."""

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
        self.setGridSize(QSize(ICON.width() + 16, ICON.height() + 40))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        state.bin_changed.connect(self.refresh)
        cache.thumbnails_ready.connect(self._thumbs_ready)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for m in self.state.bin:
            item = QListWidgetItem(f"{m.label}\n{m.duration_s:.1f} s · {m.width}×{m.height}")
            item.setData(TAKE_ID_ROLE, m.take_id)
            item.setToolTip(f"Take {m.take_id}: {m.label}")
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
        return QIcon(pix)

    def _thumbs_ready(self, video_hash: str) -> None:
        for i in range(self.count()):
            item = self.item(i)
            take_id = int(item.data(TAKE_ID_ROLE))
            if self.state.media(take_id).video_hash == video_hash:
                item.setIcon(self._icon(take_id))

    def selected_take_ids(self) -> list[int]:
        return [int(i.data(TAKE_ID_ROLE)) for i in self.selectedItems()]

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:  # noqa: N802
        ids = [int(i.data(TAKE_ID_ROLE)) for i in items]
        mime = encode_take_mime(ids)
        if self.exporter is not None and len(ids) == 1:
            path = self.exporter.cached(self.state.take_spec(ids[0]))
            if path is not None:
                mime = file_mime(path, mime)
        return mime

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        super().mousePressEvent(event)
        item = self.itemAt(event.position().toPoint())
        if item is not None and self.exporter is not None:
            # Start the file for drag-out now; a drag is likely to follow.
            self.exporter.prepare(self.state.take_spec(int(item.data(TAKE_ID_ROLE))))

    def startDrag(self, supported: Qt.DropAction) -> None:  # noqa: N802
        items = self.selectedItems()
        if not items:
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData(items))
        drag.setPixmap(items[0].icon().pixmap(QSize(96, 54)))
        drag.exec(Qt.DropAction.CopyAction)
