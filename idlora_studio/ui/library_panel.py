"""The library grid: identity cards with thumbnails, search, tag filter, drop to create.

Model/view: ``IdentityListModel`` holds the summaries from ``LibraryState``;
``IdentityFilterProxy`` filters in memory by search text (name or tag) and by tag;
``IdentityCardDelegate`` paints a card, asking ``ThumbnailCache`` for the picture (a miss
paints a placeholder and schedules a background decode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMetaMethod,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.state.library_state import LibraryState
from idlora_studio.ui.file_actions import build_menu
from idlora_studio.ui.palette import ACCENT, OK, TEXT, TEXT_DIM, WARN
from idlora_studio.ui.thumbnails import ThumbnailCache

ID_ROLE = Qt.ItemDataRole.UserRole + 1
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 2
THUMB_PATH_ROLE = Qt.ItemDataRole.UserRole + 3
TAGS_ROLE = Qt.ItemDataRole.UserRole + 4

CARD_BG = QColor("#262a33")
CARD_BG_HOVER = QColor("#2d323d")


def local_files(mime: Any) -> list[Path]:
    """Local file paths in a drag's mime data (URLs that are not local are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


class IdentityListModel(QAbstractListModel):
    """Identity summaries as a flat list model."""

    def __init__(self, thumbnails: ThumbnailCache, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []
        self._rows_by_thumb: dict[str, list[int]] = {}
        self._thumbnails = thumbnails
        thumbnails.ready.connect(self._thumbnail_ready)

    def set_summaries(self, summaries: list[Any]) -> None:
        self.beginResetModel()
        self._items = list(summaries)
        self._rows_by_thumb = {}
        for row, s in enumerate(self._items):
            if s.thumbnail_path:
                self._rows_by_thumb.setdefault(str(s.thumbnail_path), []).append(row)
        self.endResetModel()

    def summary_at(self, row: int) -> Any:
        return self._items[row]

    def row_of(self, identity_id: int) -> int:
        return next((i for i, s in enumerate(self._items) if s.id == identity_id), -1)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._items)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        s = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return s.name
        if role == ID_ROLE:
            return s.id
        if role == SUMMARY_ROLE:
            return s
        if role == THUMB_PATH_ROLE:
            return str(s.thumbnail_path) if s.thumbnail_path else ""
        if role == TAGS_ROLE:
            return tuple(s.tags)
        if role == Qt.ItemDataRole.ToolTipRole:
            tags = ", ".join(s.tags) or "no tags"
            consent = "consent recorded" if s.has_consent else "no consent record"
            return f"{s.name}\n{s.image_count} image(s), {s.clip_count} clip(s)\n{tags}\n{consent}"
        return None

    def _thumbnail_ready(self, path: str) -> None:
        for row in self._rows_by_thumb.get(path, ()):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [THUMB_PATH_ROLE])


class IdentityFilterProxy(QSortFilterProxyModel):
    """Filters by search text (in the name or a tag, case-insensitive) and by one tag."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._search = ""
        self._tag = ""
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    @property
    def search_text(self) -> str:
        return self._search

    @property
    def tag(self) -> str:
        return self._tag

    def set_search_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._search:
            self.beginFilterChange()
            self._search = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_tag(self, tag: str) -> None:
        tag = tag.casefold()
        if tag != self._tag:
            self.beginFilterChange()
            self._tag = tag
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Any) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, IdentityListModel):
            return True
        s = model.summary_at(source_row)
        tags = [t.casefold() for t in s.tags]
        if self._tag and self._tag not in tags:
            return False
        if self._search:
            if self._search in s.name.casefold():
                return True
            return any(self._search in t for t in tags)
        return True


class IdentityCardDelegate(QStyledItemDelegate):
    """Paints an identity as a card: square thumbnail, name, counts, consent badge."""

    PAD = 8

    def __init__(self, thumbnails: ThumbnailCache, parent: Any = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails
        self._name_font = QFont()
        self._name_font.setPointSizeF(self._name_font.pointSizeF() + 0.5)
        self._name_font.setWeight(QFont.Weight.DemiBold)
        self._small_font = QFont()
        self._small_font.setPointSizeF(max(7.0, self._small_font.pointSizeF() - 1.0))

    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> QSize:  # noqa: N802
        side = self._thumbnails.side
        return QSize(side + 2 * self.PAD, side + 2 * self.PAD + 46)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        s = index.data(SUMMARY_ROLE)
        if s is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect).adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        card = QPainterPath()
        card.addRoundedRect(rect, 10, 10)
        painter.fillPath(card, CARD_BG_HOVER if hover or selected else CARD_BG)
        if selected:
            painter.setPen(QPen(ACCENT, 2))
            painter.drawPath(card)

        side = self._thumbnails.side - 6
        thumb = QRectF(rect.left() + (rect.width() - side) / 2, rect.top() + 6, side, side)
        clip = QPainterPath()
        clip.addRoundedRect(thumb, 8, 8)
        pix = self._thumbnails.get(index.data(THUMB_PATH_ROLE))
        if pix is not None:
            painter.setClipPath(clip)
            painter.drawPixmap(thumb.toRect(), pix)
            painter.setClipping(False)
        else:
            painter.fillPath(clip, QColor("#323847"))
            painter.setPen(TEXT_DIM)
            initials = "".join(w[:1] for w in s.name.split()[:2]).upper() or "?"
            f = QFont(self._name_font)
            f.setPointSizeF(f.pointSizeF() * 2.4)
            painter.setFont(f)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, initials)

        # consent badge in the thumbnail's corner
        badge = QRectF(thumb.right() - 24, thumb.top() + 6, 18, 18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(OK if s.has_consent else WARN)
        painter.drawEllipse(badge)
        painter.setPen(QPen(QColor("#101217"), 2))
        painter.setFont(self._small_font)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "✓" if s.has_consent else "!")

        text_rect = QRectF(rect.left() + 8, thumb.bottom() + 6, rect.width() - 16, 20)
        painter.setFont(self._name_font)
        painter.setPen(TEXT)
        name = painter.fontMetrics().elidedText(
            s.name, Qt.TextElideMode.ElideRight, int(text_rect.width())
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name
        )
        painter.setFont(self._small_font)
        painter.setPen(TEXT_DIM)
        info = f"{s.image_count} img · {s.clip_count} clip"
        if s.tags:
            info += " · " + ", ".join(s.tags)
        info_rect = text_rect.translated(0, 19)
        info = painter.fontMetrics().elidedText(
            info, Qt.TextElideMode.ElideRight, int(info_rect.width())
        )
        painter.drawText(
            info_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, info
        )
        painter.restore()


class IdentityGrid(QListView):
    """Icon-mode list that accepts dropped files and shows a hint when empty."""

    files_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(6)
        self.setWrapping(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setObjectName("identityGrid")
        self._drag_active = False
        self.empty_text = "Drop photos and voice clips here\nto create an identity"

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_files(event.mimeData()):
            self._drag_active = True
            self.viewport().update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802
        self._drag_active = False
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._drag_active = False
        self.viewport().update()
        files = local_files(event.mimeData())
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.files_dropped.emit(files)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        model = self.model()
        empty = model is None or model.rowCount() == 0
        if not (empty or self._drag_active):
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.viewport().rect()).adjusted(16, 16, -16, -16)
        if self._drag_active:
            painter.setPen(QPen(ACCENT, 2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(area, 12, 12)
        if empty:
            painter.setPen(TEXT_DIM)
            text = self.empty_text
            if isinstance(model, QSortFilterProxyModel) and model.sourceModel().rowCount() > 0:
                text = "No identity matches the filter"
            painter.drawText(area.toRect(), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class LibraryPanel(QWidget):
    """Search box, tag filter and the identity grid, bound to a ``LibraryState``.

    Emits ``identity_selected(int)`` with the selected id, or -1 when none is selected.
    A card's right-click menu opens it, asks to rename it (``rename_requested``), to use it
    on the Generate page (``generate_requested``, listed once something is connected) or to
    delete it (``delete_requested``); the window connects these to the editor and pages.
    """

    identity_selected = Signal(int)
    new_identity_requested = Signal()
    rename_requested = Signal(int)
    delete_requested = Signal(int)
    generate_requested = Signal(int)

    ALL_TAGS = "All tags"

    def __init__(
        self, state: LibraryState, thumbnails: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("libraryPanel")
        self._state = state
        self._pending_select: int | None = None
        self.model = IdentityListModel(thumbnails, self)
        self.proxy = IdentityFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setDynamicSortFilter(False)

        title = QLabel("Library")
        title.setObjectName("panelTitle")
        self.count_label = QLabel("")
        self.count_label.setObjectName("dimLabel")
        self.new_button = QPushButton("New identity")
        self.new_button.setObjectName("primaryButton")
        self.new_button.clicked.connect(self.new_identity_requested)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names and tags")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter_changed)
        self.tag_filter = QComboBox()
        self.tag_filter.setMinimumWidth(140)
        self.tag_filter.addItem(self.ALL_TAGS, "")
        self.tag_filter.currentIndexChanged.connect(self._filter_changed)

        self.grid = IdentityGrid()
        self.grid.setModel(self.proxy)
        self.grid.setItemDelegate(IdentityCardDelegate(thumbnails, self.grid))
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.files_dropped.connect(self._files_dropped)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)

        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(self.count_label)
        head.addStretch(1)
        head.addWidget(self.new_button)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.tag_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 8, 12)
        layout.setSpacing(10)
        layout.addLayout(head)
        layout.addLayout(filters)
        layout.addWidget(self.grid, 1)

        state.identities_changed.connect(self._reload)
        state.identity_created.connect(self.select_identity)
        if state.loaded:
            self._reload()

    # --- binding -------------------------------------------------------------------
    def _reload(self) -> None:
        current = self.selected_id()
        self.model.set_summaries(self._state.summaries)
        self._reload_tags()
        self._update_count()
        target = self._pending_select if self._pending_select is not None else current
        if target is not None and target >= 0:
            if self.select_identity(target):
                self._pending_select = None

    def _reload_tags(self) -> None:
        chosen = self.tag_filter.currentData() or ""
        self.tag_filter.blockSignals(True)
        self.tag_filter.clear()
        self.tag_filter.addItem(self.ALL_TAGS, "")
        for tag in self._state.all_tags():
            self.tag_filter.addItem(f"#{tag}", tag)
        idx = self.tag_filter.findData(chosen)
        self.tag_filter.setCurrentIndex(max(0, idx))
        self.tag_filter.blockSignals(False)
        if idx < 0 and chosen:
            self._filter_changed()

    def _filter_changed(self, *_: Any) -> None:
        self.proxy.set_search_text(self.search.text())
        self.proxy.set_tag(self.tag_filter.currentData() or "")
        self._update_count()

    def _update_count(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count_label.setText(f"{total}" if shown == total else f"{shown} of {total}")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.identity_selected.emit(int(current.data(ID_ROLE)) if current.isValid() else -1)

    def _files_dropped(self, files: list[Path]) -> None:
        self._state.create_identity_from_files(files)

    def context_menu(self, identity_id: int) -> QMenu:
        """The right-click menu of an identity card."""
        entries: list[Any] = [
            ("Open", lambda: self.select_identity(identity_id), True),
            ("Rename…", lambda: self._rename(identity_id), True),
        ]
        if self.isSignalConnected(QMetaMethod.fromSignal(self.generate_requested)):
            entries.append(
                (
                    "Generate with this person…",
                    lambda: self.generate_requested.emit(identity_id),
                    True,
                )
            )
        entries += [
            None,
            ("Delete…", lambda: self.delete_requested.emit(identity_id), True),
        ]
        return build_menu(self, entries)

    def _rename(self, identity_id: int) -> None:
        self.select_identity(identity_id)
        self.rename_requested.emit(identity_id)

    def _context_menu(self, pos: Any) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu(int(index.data(ID_ROLE)))
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    # --- API -----------------------------------------------------------------------
    def set_tag_filter(self, tag: str) -> None:
        idx = self.tag_filter.findData(tag)
        self.tag_filter.setCurrentIndex(max(0, idx))

    def visible_names(self) -> list[str]:
        return [self.proxy.index(r, 0).data() for r in range(self.proxy.rowCount())]

    def selected_id(self) -> int | None:
        idx = self.grid.currentIndex()
        return int(idx.data(ID_ROLE)) if idx.isValid() else None

    def select_identity(self, identity_id: int) -> bool:
        """Select the card of ``identity_id``; remembered until it appears in the grid."""
        row = self.model.row_of(identity_id)
        if row < 0:
            self._pending_select = identity_id
            return False
        proxy_index = self.proxy.mapFromSource(self.model.index(row))
        if not proxy_index.isValid():
            return False
        self.grid.setCurrentIndex(proxy_index)
        self.grid.scrollTo(proxy_index)
        return True

    def visible_thumbnail_rect(self) -> QRect:
        return self.grid.viewport().rect()
