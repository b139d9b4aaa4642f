"""The main window: the page bar, the notice area and the pages (Library, Generate, Edit),
with the menus that reach everything.

Everything it shows comes from the objects ``app.build_main_window`` passes in; it creates
no services of its own. Pages are :class:`~idlora_studio.ui.pages.Page` workspaces (a central
area plus dockable panels); their layout is kept per user by
:class:`~idlora_studio.ui.layouts.LayoutManager`. Edit > Undo/Redo act on the shown page's undo
stack (a ``QUndoGroup``). Other parts hook in through :meth:`MainWindow.add_close_guard` (may
veto quitting, e.g. a running job) and :meth:`MainWindow.add_shutdown_callback`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoGroup, QUndoStack
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from idlora_studio import __version__
from idlora_studio.state.library_state import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, LibraryState
from idlora_studio.ui.identity_editor import IdentityEditor
from idlora_studio.ui.layouts import LAYOUT_FILE, LayoutManager
from idlora_studio.ui.library_panel import LibraryPanel
from idlora_studio.ui.notices import BannerArea, NoticeBar
from idlora_studio.ui.pages import Page, PageBar, keep_forms_unclipped
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.workers.tasks import TaskRunner

__all__ = ["MainWindow", "NoticeBar"]

APP_TITLE = "ID-LoRA Studio"


class MainWindow(QMainWindow):
    """Pages for the three jobs; the Library page is built here, the others are added."""

    page_changed = Signal(str)

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
        self._close_guards: list[Callable[[], bool]] = []
        self._on_shutdown: list[Callable[[], None]] = []
        self._shut_down = False
        self._pages: dict[str, Page] = {}
        # Set by app.build_main_window when the parts exist (None with a fake library).
        self.projects: Any = None
        self.project_actions: Any = None
        self.library_changes: Any = None
        self.open_models: Callable[[], None] | None = None
        self.first_run_panel: Any = None
        self.setWindowTitle(APP_TITLE)
        self.resize(1320, 840)
        self.setMinimumSize(900, 560)

        self.library_panel = LibraryPanel(state, thumbnails)
        self.editor = IdentityEditor(state, thumbnails, paths, settings)
        self.banners = BannerArea()
        self.notice = self.banners.notice
        self.page_bar = PageBar()
        self.page_bar.page_requested.connect(self.show_page)
        self.stack = QStackedWidget()
        self.stack.setObjectName("pageStack")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.page_bar)
        layout.addWidget(self.banners)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.undo_group = QUndoGroup(self)
        config = getattr(paths, "config_dir", None)
        self.layouts = LayoutManager(self, Path(config) / LAYOUT_FILE if config else None)

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

        library = Page("library", "Library", self.library_panel)
        library.add_panel("identity", "Identity", self.editor, "right", size=560)
        library.undo_stack = state.undo_stack  # identity edits (IdentityEditor)
        self.add_page(library)

        self.library_panel.identity_selected.connect(self.editor.show_identity)
        self.library_panel.new_identity_requested.connect(self.new_identity)
        self.library_panel.rename_requested.connect(self.editor.start_rename)
        self.library_panel.delete_requested.connect(self.editor.confirm_delete)
        state.import_failed.connect(self.notice.show_error)
        state.error.connect(self.notice.show_error)
        state.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        state.busy_changed.connect(self._set_busy)
        state.identities_changed.connect(self._update_status)
        self.set_project_name("")

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        bar = self.menuBar()
        self._headings: dict[str, QAction] = {}
        self.file_menu = bar.addMenu("&File")
        self.project_menu = QMenu("Project", self)  # the page bar's project button
        self.new_identity_action = self.make_action(
            "New &Identity…", self.new_identity, "Ctrl+Shift+N"
        )
        self.import_files_action = self.make_action(
            "&Import Files as New Identity…", self.import_files, "Ctrl+I"
        )
        self.quit_action = self.make_action("&Quit", self.close, "Ctrl+Q")
        self._file_tail = [self.new_identity_action, self.import_files_action]
        self._rebuild_file_menu()

        self.edit_menu = bar.addMenu("&Edit")
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.edit_menu.addActions([self.undo_action, self.redo_action])
        self.edit_menu.addSeparator()
        find = self.make_action("&Find Identity", self._find, "Ctrl+F")
        save = self.make_action("&Save Identity", self.editor.save, "Ctrl+S")
        self.edit_menu.addActions([find, save])

        self.view_menu = bar.addMenu("&View")
        self._page_actions = QActionGroup(self)
        self._page_action_list: list[QAction] = []
        self._page_actions.setExclusive(True)
        self.reset_layout_action = self.make_action("&Reset Layout", self.reset_layout)
        self.full_screen_action = self.make_action("&Full Screen", self._toggle_full_screen, "F11")
        self.full_screen_action.setCheckable(True)
        self.view_menu.aboutToShow.connect(self._rebuild_view_menu)
        self._rebuild_view_menu()

        self.tools_menu = bar.addMenu("&Tools")
        self.help_menu = bar.addMenu("&Help")
        self.about_action = self.make_action("&About ID-LoRA Studio", self._about)
        self.help_menu.addAction(self.about_action)

    def make_action(
        self,
        text: str,
        slot: Callable[[], Any],
        shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
    ) -> QAction:
        """A window action (its shortcut works with every menu closed)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work while the menu is closed
        return action

    def add_file_actions(
        self, actions: list[QAction | QMenu | None], *, project: bool = False
    ) -> None:
        """Put ``actions`` (None: a separator) at the top of File; ``project``: also in the
        page bar's project menu."""
        self._file_head = [*getattr(self, "_file_head", []), *actions]
        if project:
            for a in actions:
                if a is None:
                    self.project_menu.addSeparator()
                elif isinstance(a, QMenu):
                    self.project_menu.addMenu(a)
                else:
                    self.project_menu.addAction(a)
            self.page_bar.project_button.setMenu(self.project_menu)
        self._rebuild_file_menu()

    @staticmethod
    def _empty(menu: QMenu) -> None:
        # Not QMenu.clear(): under PySide it can delete actions the window still uses.
        for action in menu.actions():
            menu.removeAction(action)

    def _heading(self, key: str, text: str) -> QAction:
        heading = self._headings.get(key)
        if heading is None:
            heading = self._headings[key] = QAction(self)
            heading.setSeparator(True)
        heading.setText(text)
        return heading

    def _rebuild_file_menu(self) -> None:
        m = self.file_menu
        self._empty(m)
        head = getattr(self, "_file_head", [])
        for i, a in enumerate(head):
            if a is None:
                m.addAction(self._heading(f"file{i}", ""))
            elif isinstance(a, QMenu):
                m.addMenu(a)
            else:
                m.addAction(a)
        if head:
            m.addAction(self._heading("file-head", ""))
        m.addActions(self._file_tail)
        m.addAction(self._heading("file-tail", ""))
        m.addAction(self.quit_action)

    def _rebuild_view_menu(self) -> None:
        m = self.view_menu
        self._empty(m)
        m.addAction(self._heading("pages", "Pages"))
        for action in self._page_action_list:
            m.addAction(action)
        page = self.current_page()
        if page is not None and page.panels:
            m.addAction(self._heading("panels", f"Panels of the {page.title} page"))
            for dock in page.panels.values():
                m.addAction(dock.toggleViewAction())
        m.addAction(self._heading("layout", ""))
        m.addAction(self.reset_layout_action)
        m.addAction(self.full_screen_action)

    # ------------------------------------------------------------------ pages
    def add_page(self, page: Page) -> Page:
        """Add ``page`` to the window (its tab, View menu entry and Ctrl+<n> shortcut)."""
        self._pages[page.key] = page
        self.stack.addWidget(page)
        self.page_bar.add_page(page.key, page.title)
        n = len(self._pages)
        action = QAction(f"&{page.title}", self)
        action.setCheckable(True)
        action.setData(page.key)
        if n <= 9:
            action.setShortcut(QKeySequence(f"Ctrl+{n}"))
        action.triggered.connect(lambda _c=False, k=page.key: self.show_page(k))
        self._page_actions.addAction(action)
        self._page_action_list.append(action)
        self.addAction(action)
        if page.undo_stack is not None:
            self.undo_group.addStack(page.undo_stack)
        page.panels_changed.connect(self._rebuild_view_menu)
        if n == 1:
            self.show_page(page.key)
        self._rebuild_view_menu()
        return page

    def pages(self) -> dict[str, Page]:
        return dict(self._pages)

    def page(self, key: str) -> Page:
        return self._pages[key]

    def page_titles(self) -> list[str]:
        return [p.title for p in self._pages.values()]

    def current_page(self) -> Page | None:
        page = self.stack.currentWidget()
        return page if isinstance(page, Page) else None

    def current_page_key(self) -> str:
        page = self.current_page()
        return page.key if page is not None else ""

    def show_page(self, key: str) -> None:
        page = self._pages.get(key)
        if page is None:
            return
        changed = self.stack.currentWidget() is not page
        self.stack.setCurrentWidget(page)
        self.page_bar.set_current(key)
        for action in self._page_action_list:
            action.setChecked(action.data() == key)
        self.undo_group.setActiveStack(page.undo_stack)  # type: ignore[arg-type]
        if changed:
            self._rebuild_view_menu()
            self.page_changed.emit(key)

    def set_undo_stack(self, key: str, stack: QUndoStack | None) -> None:
        """Edit > Undo/Redo act on ``stack`` while page ``key`` is shown."""
        page = self._pages[key]
        page.undo_stack = stack
        if stack is not None:
            self.undo_group.addStack(stack)
        if self.current_page() is page:
            self.undo_group.setActiveStack(stack)  # type: ignore[arg-type]

    def reset_layout(self) -> None:
        self.layouts.reset()

    def finish_setup(self) -> None:
        """Every page and panel exists: forms keep their width, the default layout is
        remembered and the user's restored."""
        for page in self._pages.values():
            keep_forms_unclipped(page)
        self.layouts.capture_defaults()
        self.layouts.restore()

    # ------------------------------------------------------------------ project name
    def set_project_name(self, name: str) -> None:
        """The open project's name in the title bar and the page bar."""
        self.setWindowTitle(f"{name} — {APP_TITLE}" if name else APP_TITLE)
        self.page_bar.set_project_name(name or "No project")

    # ------------------------------------------------------------------ actions
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

    def _find(self) -> None:
        self.show_page("library")
        self.library_panel.search.setFocus()

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
        self.full_screen_action.setChecked(self.isFullScreen())

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

    # ------------------------------------------------------------------ composition
    def add_timeline(self, panel: Any, runners: tuple[TaskRunner, ...] = ()) -> Page:
        """The Edit page: the viewer with its transport fills the page; the bin (left) and
        the timeline (bottom) are panels."""
        self.timeline_panel = panel
        page = Page("edit", "Edit", panel.monitor)
        page.add_panel("bin", "Bin", panel.bin, "left", size=300)
        self.timeline_dock = page.add_panel("timeline", "Timeline", panel.view, "bottom")
        panel.setParent(page)  # keeps the timeline's services alive; its parts live in docks
        panel.hide()
        page.undo_stack = panel.state.undo_stack
        self.add_page(page)
        from idlora_studio.ui.timeline_menu import build_timeline_menu

        self.timeline_menu = build_timeline_menu(self, page, panel)
        self.menuBar().insertMenu(self.tools_menu.menuAction(), self.timeline_menu)
        self.add_runners(*runners)
        return page

    def add_generate_panel(
        self,
        panel: QWidget,
        open_models: Callable[[], None],
        on_shutdown: Callable[[], None] | None = None,
    ) -> Page:
        """The Generate page around ``panel``; Tools > Models… opens the model manager."""
        page = Page("generate", "Generate", panel)
        self.generate_panel = panel
        self.add_page(page)
        self.open_models = open_models
        self.models_action = self.make_action("&Models…", open_models, "Ctrl+M")
        self.tools_menu.addAction(self.models_action)
        if on_shutdown is not None:
            self.add_shutdown_callback(on_shutdown)
        return page

    def add_runners(self, *runners: TaskRunner) -> None:
        """Runners whose work :meth:`shutdown` lets finish (imports must not be cut)."""
        self._runners = (*self._runners, *runners)

    def add_close_guard(self, guard: Callable[[], bool]) -> None:
        """``guard()`` runs when the user closes the window (it may ask); False keeps the
        window open."""
        self._close_guards.append(guard)

    def add_shutdown_callback(self, callback: Callable[[], None]) -> None:
        self._on_shutdown.append(callback)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Let database work in flight finish (an import must not be cut in half)."""
        self.editor.flush()  # what was typed into the identity editor is saved first
        if not self._shut_down:
            self._shut_down = True
            for callback in self._on_shutdown:
                callback()
        for runner in self._runners:
            runner.wait(timeout_ms)
        flush = getattr(self.settings, "flush", None)
        if flush is not None:  # the last values set are in the file
            flush()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        for guard in self._close_guards:
            if not guard():
                event.ignore()
                return
        self.layouts.save()
        self.shutdown()
        super().closeEvent(event)
