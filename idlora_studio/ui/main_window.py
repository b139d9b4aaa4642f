"""The main window: composes the library panel and the identity editor, menus, status bar.

Everything it shows comes from the objects ``app.build_main_window`` passes in; it creates
no services of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from idlora_studio import __version__
from idlora_studio.state.library_state import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, LibraryState
from idlora_studio.ui.identity_editor import IdentityEditor
from idlora_studio.ui.library_panel import LibraryPanel
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.workers.tasks import TaskRunner


class NoticeBar(QFrame):
    """A dismissable banner for problems (refused files, failed saves); never modal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.icon = QLabel("⚠")
        self.icon.setObjectName("noticeIcon")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 8, 8, 8)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._lines: list[str] = []
        self.hide()

    def show_error(self, text: str) -> None:
        if text not in self._lines:
            self._lines = [*self._lines[-4:], text]
        self.label.setText("\n".join(self._lines))
        self.show()

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self._lines = []
        self.label.clear()
        self.hide()


class MainWindow(QMainWindow):
    """Library on the left, the selected identity on the right."""

    def __init__(
        self,
        state: LibraryState,
        thumbnails: ThumbnailCache,
        paths: Any = None,
        settings: Any = None,
        runners: tuple[TaskRunner, ...] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.paths = paths
        self.settings = settings
        self._runners = runners
        self.setWindowTitle("ID-LoRA Studio")
        self.resize(1320, 840)
        self.setMinimumSize(900, 560)

        self.library_panel = LibraryPanel(state, thumbnails)
        self.editor = IdentityEditor(state, thumbnails, paths, settings)
        self.notice = NoticeBar()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self.library_panel)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 560])
        splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self._busy = QProgressBar()
        self._busy.setRange(0, 0)
        self._busy.setFixedWidth(120)
        self._busy.setFixedHeight(10)
        self._busy.setTextVisible(False)
        self._busy.hide()
        self.statusBar().addPermanentWidget(self._busy)
        self._busy_timer = QTimer(self, singleShot=True, interval=250)
        self._busy_timer.timeout.connect(self._busy.show)
        self._build_menus()

        self.library_panel.identity_selected.connect(self.editor.show_identity)
        self.library_panel.new_identity_requested.connect(self.new_identity)
        state.import_failed.connect(self.notice.show_error)
        state.error.connect(self.notice.show_error)
        state.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        state.busy_changed.connect(self._set_busy)
        state.identities_changed.connect(self._update_status)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        new = QAction("&New identity…", self, shortcut=QKeySequence.StandardKey.New)
        new.triggered.connect(self.new_identity)
        imp = QAction("&Import files as new identity…", self, shortcut=QKeySequence("Ctrl+I"))
        imp.triggered.connect(self.import_files)
        quit_ = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_.triggered.connect(self.close)
        file_menu.addActions([new, imp])
        file_menu.addSeparator()
        file_menu.addAction(quit_)

        edit_menu = self.menuBar().addMenu("&Edit")
        find = QAction("&Find identity", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.library_panel.search.setFocus())
        save = QAction("&Save identity", self, shortcut=QKeySequence.StandardKey.Save)
        save.triggered.connect(self.editor.save)
        edit_menu.addActions([find, save])

        self.tools_menu = self.menuBar().addMenu("&Tools")

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About ID-LoRA Studio", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    # --- actions -------------------------------------------------------------------
    def new_identity(self) -> None:
        name, ok = QInputDialog.getText(self, "New identity", "Name:")
        if ok and name.strip():
            self.state.create_identity(name.strip())

    def import_files(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS | AUDIO_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Images and voice clips of one person", "", f"Images and audio ({exts})"
        )
        if files:
            self.state.create_identity_from_files([Path(f) for f in files])

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About ID-LoRA Studio",
            f"<b>ID-LoRA Studio</b> {__version__}<br>Talking video of a person, in their "
            "voice, generated locally on your GPU.<br><br>Only use people who agreed to it.",
        )

    def _set_busy(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self._busy.hide()

    def _update_status(self) -> None:
        n = len(self.state.summaries)
        missing = sum(1 for s in self.state.summaries if not s.has_consent)
        text = f"{n} identit{'y' if n == 1 else 'ies'}"
        if missing:
            text += f" · {missing} without a consent record"
        self.statusBar().showMessage(text)

    def add_timeline(self, panel: QWidget, runners: tuple[TaskRunner, ...] = ()) -> None:
        """Dock the timeline panel (bin, viewer, timeline) along the bottom of the window."""
        dock = QDockWidget("Timeline", self)
        dock.setObjectName("timelineDock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.timeline_dock = dock
        self._runners = (*self._runners, *runners)

    def add_generate_panel(
        self,
        panel: QWidget,
        open_models: Callable[[], None],
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        """Put the library and the Generate page in tabs; add Tools > Generate and Models…."""
        splitter = self.findChild(QSplitter, "mainSplitter")
        layout = self.centralWidget().layout()
        self.pages = QTabWidget()
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        layout.replaceWidget(splitter, self.pages)
        self.pages.addTab(splitter, "Library")
        self.pages.addTab(panel, "Generate")
        self.generate_panel = panel
        self.library_panel.identity_selected.connect(panel.set_identity)  # type: ignore[attr-defined]
        go = QAction("&Generate", self, shortcut=QKeySequence("Ctrl+G"))
        go.triggered.connect(lambda: self.pages.setCurrentWidget(panel))
        models = QAction("&Models…", self, shortcut=QKeySequence("Ctrl+M"))
        models.triggered.connect(open_models)
        self.tools_menu.addActions([go, models])
        if on_shutdown is not None:
            self._on_shutdown = [*getattr(self, "_on_shutdown", []), on_shutdown]

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Let database work in flight finish (an import must not be cut in half)."""
        for callback in getattr(self, "_on_shutdown", []):
            callback()
        for runner in self._runners:
            runner.wait(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
