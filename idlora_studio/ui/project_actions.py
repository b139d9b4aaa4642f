"""The project workflow in the window: File > New / Open / Open Recent / Rename / Duplicate /
Delete / Export Bundle / Import Bundle, the Open Project dialog, the bundle progress dialog,
and bundles dropped anywhere on the window.

:class:`ProjectActions` turns menu commands into :class:`~idlora_studio.state.projects.
ProjectsState` calls; each command takes its input as an argument (tests, scripts) or asks
for it with a dialog. :class:`BundleDrops` is an application-wide event filter scoped to the
main window: a drag carrying a project bundle is claimed before the widget under the cursor
(the identity grid, the timeline) can refuse it, so a bundle imports wherever it is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt
from PySide6.QtGui import QAction, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

BUNDLE_SUFFIXES = (".idlora-bundle", ".zip")
BUNDLE_FILTER = "Project bundles (*.idlora-bundle *.zip)"


def bundle_files(mime: QMimeData) -> list[Path]:
    """Local files in a drag that look like project bundles (by extension)."""
    if not mime.hasUrls():
        return []
    return [
        Path(u.toLocalFile())
        for u in mime.urls()
        if u.isLocalFile() and u.toLocalFile().lower().endswith(BUNDLE_SUFFIXES)
    ]


def safe_file_name(name: str) -> str:
    cleaned = re.sub(r"[^\w\- ]+", "", name).strip()
    return cleaned or "project"


class BundleDrops(QObject):
    """Application event filter: bundles dragged over ``window`` (any widget in it) import
    through ``on_bundles(paths)``."""

    def __init__(self, window: QWidget, on_bundles: Callable[[list[Path]], None]) -> None:
        super().__init__(window)
        self.window = window
        self._on_bundles = on_bundles
        window.setAcceptDrops(True)  # so a drag over any part of the window reaches us
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def remove(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _ours(self, obj: QObject) -> bool:
        return isinstance(obj, QWidget) and obj.window() is self.window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # Every event of the application passes here: isinstance first (cheap); drag-enter
        # and drag-move events are QDropEvents too.
        if not isinstance(event, QDropEvent) or not self._ours(obj):
            return False
        kind = event.type()
        files = bundle_files(event.mimeData())  # type: ignore[attr-defined]
        if not files:
            return False
        event.setDropAction(Qt.DropAction.CopyAction)  # type: ignore[attr-defined]
        event.accept()
        if kind == QEvent.Type.Drop:
            self._on_bundles(files)
        return True


class OpenProjectDialog(QDialog):
    """Pick a project: a filterable list, most recently changed first."""

    def __init__(self, projects: list[Any], current: int | None, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open project")
        self.resize(460, 420)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name")
        self.filter.textChanged.connect(self._filter)
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        for p in projects:
            changed = p.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            mark = "   (open)" if p.id == current else ""
            item = QListWidgetItem(f"{p.name}{mark}\nchanged {changed}")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, p.name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)

    def _filter(self, text: str) -> None:
        key = text.strip().casefold()
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hide = bool(key) and key not in str(item.data(Qt.ItemDataRole.UserRole + 1)).casefold()
            item.setHidden(hide)
            if not hide and first is None:
                first = item
        if first is not None:
            self.list.setCurrentItem(first)

    def chosen(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None or item.isHidden() else int(item.data(Qt.ItemDataRole.UserRole))


class ProjectActions(QObject):
    """The File menu's project commands for ``window`` over ``projects`` (a ProjectsState)."""

    def __init__(self, window: Any, projects: Any, exports_dir: Path) -> None:
        super().__init__(window)
        self.window = window
        self.projects = projects
        self.exports_dir = Path(exports_dir)
        self.progress: QProgressDialog | None = None

        def action(text: str, slot: Callable[[], Any], shortcut: str | None = None) -> QAction:
            a = QAction(text, window)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(lambda _checked=False: slot())
            window.addAction(a)
            return a

        self.new_action = action("&New Project…", self.new_project, "Ctrl+N")
        self.open_action = action("&Open Project…", self.open_project, "Ctrl+O")
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.rename_action = action("Re&name Project…", self.rename_project, "F2")
        self.duplicate_action = action("D&uplicate Project…", self.duplicate_project)
        self.delete_action = action("&Delete Project…", self.delete_project)
        self.export_action = action("&Export Project Bundle…", self.export_bundle, "Ctrl+Shift+E")
        self.import_action = action("Import Project &Bundle…", self.import_bundle, "Ctrl+Shift+I")
        self._recent_actions: list[QAction] = []
        window.add_file_actions(
            [
                self.new_action,
                self.open_action,
                self.recent_menu,
                None,
                self.rename_action,
                self.duplicate_action,
                self.delete_action,
                None,
                self.export_action,
                self.import_action,
            ],
            project=True,
        )
        self.drops = BundleDrops(window, self.import_files)
        projects.projects_changed.connect(self._update_enabled)
        projects.current_changed.connect(lambda _pid: self._update_enabled())
        projects.bundle_started.connect(self._bundle_started)
        projects.bundle_progress.connect(self._bundle_progress)
        projects.bundle_finished.connect(self._bundle_finished)
        self._update_enabled()

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        has = self.projects.current_id is not None
        for a in (
            self.rename_action,
            self.duplicate_action,
            self.delete_action,
            self.export_action,
        ):
            a.setEnabled(has)
        self._fill_recent()

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        for a in menu.actions():
            menu.removeAction(a)
        self._recent_actions = []
        current = self.projects.current_id
        for n, p in enumerate(self.projects.recent(), start=1):
            a = QAction(f"&{n}  {p.name}" if n < 10 else p.name, menu)
            a.setData(p.id)
            a.setCheckable(True)
            a.setChecked(p.id == current)
            a.triggered.connect(lambda _c=False, pid=p.id: self.projects.open(pid))
            self._recent_actions.append(a)
            menu.addAction(a)
        if not self._recent_actions:
            none = QAction("No recent projects", menu)
            none.setEnabled(False)
            self._recent_actions.append(none)
            menu.addAction(none)

    # ------------------------------------------------------------------ commands
    def _ask_name(self, title: str, label: str, suggested: str) -> str | None:
        name, ok = QInputDialog.getText(
            self.window, title, label, QLineEdit.EchoMode.Normal, suggested
        )
        name = " ".join(name.split()) if ok else ""
        return name or None

    def new_project(self, name: str | None = None) -> None:
        name = name or self._ask_name(
            "New project", "Name of the new project:", self.projects.free_name("Untitled")
        )
        if name:
            self.projects.create(name)

    def open_project(self, project_id: int | None = None) -> None:
        if project_id is None:
            dialog = OpenProjectDialog(
                self.projects.projects, self.projects.current_id, self.window
            )
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            project_id = dialog.chosen()
        if project_id is not None:
            self.projects.open(project_id)

    def rename_project(self, name: str | None = None) -> None:
        pid = self.projects.current_id
        if pid is None:
            return
        name = name or self._ask_name("Rename project", "New name:", self.projects.current_name)
        if name and name != self.projects.current_name:
            self.projects.rename(pid, name)

    def duplicate_project(self, name: str | None = None, *, ask: bool = True) -> None:
        pid = self.projects.current_id
        if pid is None:
            return
        if name is None and ask:
            suggested = self.projects.free_name(f"{self.projects.current_name} (copy)")
            name = self._ask_name("Duplicate project", "Name of the copy:", suggested)
            if name is None:
                return
        self.projects.duplicate(pid, name)

    def delete_project(self, *, confirm: bool = True) -> None:
        pid = self.projects.current_id
        if pid is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self.window,
                "Delete project",
                f"Delete the project “{self.projects.current_name}”?\n\nIts bin and timeline "
                "are removed. The takes stay in the library and identities are not touched.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.projects.delete(pid)

    def export_bundle(self, path: Path | str | None = None) -> None:
        pid = self.projects.current_id
        if pid is None:
            return
        if path is None:
            suggested = (
                self.exports_dir / f"{safe_file_name(self.projects.current_name)}.idlora-bundle"
            )
            chosen, _ = QFileDialog.getSaveFileName(
                self.window, "Export project bundle", str(suggested), BUNDLE_FILTER
            )
            if not chosen:
                return
            path = chosen
        path = Path(path)
        if path.suffix.lower() not in BUNDLE_SUFFIXES:
            path = path.with_name(path.name + ".idlora-bundle")
        self.projects.export_bundle(pid, path)

    def import_bundle(self, path: Path | str | None = None) -> None:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self.window, "Import project bundle", str(self.exports_dir), BUNDLE_FILTER
            )
            if not chosen:
                return
            path = chosen
        self.projects.import_bundle(Path(path))

    def import_files(self, paths: list[Path]) -> None:
        """Bundles dropped on the window: import one after another."""
        for p in paths:
            if self.projects.bundle_running:
                self.window.notice.show_error(
                    f"{p.name} was not imported: another bundle is being imported. Drop it "
                    "again when that has finished."
                )
                continue
            self.projects.import_bundle(p)

    # ------------------------------------------------------------------ progress dialog
    def _bundle_started(self, kind: str, name: str) -> None:
        verb = "Importing" if kind == "import" else "Exporting"
        dialog = QProgressDialog(f"{verb} {name}…", "Cancel", 0, 1000, self.window)
        dialog.setWindowTitle(f"{verb} project bundle")
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(0)
        dialog.canceled.disconnect()  # Cancel asks the worker; the dialog closes when it stops
        dialog.canceled.connect(self._cancel_clicked)
        dialog.setValue(0)
        dialog.show()
        self.progress = dialog

    def _cancel_clicked(self) -> None:
        self.projects.cancel_bundle()
        if self.progress is not None:
            self.progress.setLabelText("Cancelling…")

    def _bundle_progress(self, value: float) -> None:
        if self.progress is not None:
            self.progress.setValue(int(max(0.0, min(1.0, value)) * 1000))

    def _bundle_finished(self, outcome: str, text: str) -> None:
        if self.progress is not None:
            self.progress.hide()
            self.progress.deleteLater()
            self.progress = None
        if outcome == "cancelled":
            self.window.statusBar().showMessage(text, 8000)
