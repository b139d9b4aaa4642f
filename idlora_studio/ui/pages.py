"""The window's pages (Library, Generate, Edit): each a full-window workspace of its own.

A :class:`Page` is a small ``QMainWindow`` used as a widget: a central area plus dockable
panels, so each page keeps its own dock layout (saved and restored by
:class:`~idlora_studio.ui.layouts.LayoutManager`). Panels are added with
:meth:`Page.add_panel`; their show/hide actions appear in the window's View menu.
:class:`PageBar` is the strip above the pages that switches between them and names the open
project.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QShowEvent, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QTabBar,
    QToolButton,
    QWidget,
)

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


class Page(QMainWindow):
    """A workspace page: ``central`` fills what the panels leave.

    ``undo_stack``: the stack Edit > Undo/Redo act on while this page is shown (None: none).
    """

    panels_changed = Signal()

    def __init__(self, key: str, title: str, central: QWidget | None = None) -> None:
        super().__init__(None)
        self.setWindowFlags(Qt.WindowType.Widget)
        self.key = key
        self.title = title
        self.setObjectName(f"{key}Page")
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.panels: dict[str, QDockWidget] = {}
        self._default_sizes: list[tuple[QDockWidget, int, Qt.Orientation]] = []
        self.undo_stack: QUndoStack | None = None
        self.sizes_pending = True  # default panel sizes are applied when first shown
        # A layout to apply when the page is next shown: dock sizes only mean something at
        # the page's real size, which a hidden page of a QStackedWidget does not have.
        self.pending_layout: Callable[[], None] | None = None
        if central is not None:
            self.setCentralWidget(central)

    def add_panel(
        self,
        name: str,
        title: str,
        widget: QWidget,
        area: str = "right",
        *,
        size: int | None = None,
    ) -> QDockWidget:
        """Dock ``widget`` as panel ``name`` in ``area`` (left/right/top/bottom); ``size``:
        its default width (left/right) or height (top/bottom) in pixels."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{self.key}.{name}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        dock.toggleViewAction().setText(title)
        self.addDockWidget(AREAS[area], dock)
        self.panels[name] = dock
        if size is not None:
            vertical = area in ("top", "bottom")
            orient = Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal
            self._default_sizes.append((dock, int(size), orient))
        self.panels_changed.emit()
        return dock

    def apply_default_sizes(self) -> None:
        """Give the panels their default sizes (after a reset or on the first start); a
        hidden page gets them when it is next shown."""
        if not self.isVisible():
            self.sizes_pending = True
            return
        self.sizes_pending = False
        for orient in (Qt.Orientation.Horizontal, Qt.Orientation.Vertical):
            docks = [(d, s) for d, s, o in self._default_sizes if o == orient and d.isVisible()]
            if docks:
                self.resizeDocks([d for d, _ in docks], [s for _, s in docks], orient)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self.pending_layout is not None:
            apply, self.pending_layout = self.pending_layout, None
            apply()
        elif self.sizes_pending:
            self.apply_default_sizes()


class ScrollWidthKeeper(QObject):
    """Keeps a form's ``QScrollArea`` at least as wide as the form's minimum width (plus the
    vertical scroll bar), so the splitters and docks around it cannot squeeze the form into
    clipping at the side. Scrolling is for height; width is what the layouts must provide.
    """

    def __init__(self, area: QScrollArea) -> None:
        super().__init__(area)
        self.area = area
        content = area.widget()
        if content is not None:
            content.installEventFilter(self)
        self.update_width()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.LayoutRequest:
            self.update_width()
        return False

    def update_width(self) -> None:
        content = self.area.widget()
        if content is None:
            return
        need = max(content.minimumSizeHint().width(), content.minimumWidth())
        need += self.area.verticalScrollBar().sizeHint().width() + 2 * self.area.frameWidth()
        if self.area.minimumWidth() != need:
            self.area.setMinimumWidth(need)


def keep_forms_unclipped(root: QWidget) -> list[ScrollWidthKeeper]:
    """A :class:`ScrollWidthKeeper` for every resizable form scroll area under ``root`` (not
    those that declare the ``scrollsHorizontally`` property)."""
    keepers = []
    for area in root.findChildren(QScrollArea):
        if area.findChild(ScrollWidthKeeper, options=Qt.FindChildOption.FindDirectChildrenOnly):
            continue
        if not area.widgetResizable() or area.property("scrollsHorizontally"):
            continue
        if area.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOn:
            continue
        keepers.append(ScrollWidthKeeper(area))
    return keepers


class PageBar(QWidget):
    """Tabs for the pages, and the open project's name (a button with the project menu)."""

    page_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageBar")
        self.tabs = QTabBar()
        self.tabs.setObjectName("pageTabs")
        self.tabs.setDrawBase(False)
        self.tabs.setExpanding(False)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.project_caption = QLabel("Project")
        self.project_caption.setObjectName("dimLabel")
        self.project_button = QToolButton()
        self.project_button.setObjectName("projectButton")
        self.project_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.project_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.project_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.project_button.setMaximumWidth(360)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 10, 0)
        row.setSpacing(8)
        row.addWidget(self.tabs)
        row.addStretch(1)
        row.addWidget(self.project_caption)
        row.addWidget(self.project_button)
        self._keys: list[str] = []

    def add_page(self, key: str, title: str) -> None:
        self._keys.append(key)
        self.tabs.addTab(title)

    def set_current(self, key: str) -> None:
        if key in self._keys:
            self.tabs.setCurrentIndex(self._keys.index(key))

    def titles(self) -> list[str]:
        return [self.tabs.tabText(i) for i in range(self.tabs.count())]

    def set_project_name(self, name: str) -> None:
        metrics = self.project_button.fontMetrics()
        shown = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, 300)
        self.project_button.setText(f"{shown}  ▾")
        self.project_button.setToolTip(f"Open project: {name}")

    def _tab_changed(self, index: int) -> None:
        if 0 <= index < len(self._keys):
            self.page_requested.emit(self._keys[index])
