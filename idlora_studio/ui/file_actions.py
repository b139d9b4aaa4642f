"""Small actions on files shared by context menus: reveal in the file manager, build menus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QMenu, QWidget

#: (text, callback, enabled); ``None`` is a separator.
MenuEntry = tuple[str, Callable[[], object], bool] | None


def reveal_file(path: Path | str) -> bool:
    """Show ``path`` in the desktop's file manager: the freedesktop ``FileManager1`` service
    selects the file where it runs; elsewhere its folder is opened. False if neither worked."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface

        bus = QDBusConnection.sessionBus()
        if bus.isConnected():
            fm = QDBusInterface(
                "org.freedesktop.FileManager1",
                "/org/freedesktop/FileManager1",
                "org.freedesktop.FileManager1",
                bus,
            )
            if fm.isValid():
                reply = fm.call("ShowItems", [QUrl.fromLocalFile(str(path)).toString()], "")
                if not reply.errorName():
                    return True
    except ImportError:  # QtDBus is not on every platform
        pass
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def build_menu(parent: QWidget, entries: Sequence[MenuEntry]) -> QMenu:
    """A context menu of ``entries`` (tests trigger its actions by text)."""
    menu = QMenu(parent)
    for entry in entries:
        if entry is None:
            menu.addSeparator()
            continue
        text, callback, enabled = entry
        action = QAction(text, menu)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _checked=False, cb=callback: cb())
        menu.addAction(action)
    return menu


def menu_action(menu: QMenu, text: str) -> QAction:
    """The action of ``menu`` whose text is ``text`` (for tests and keyboard wiring)."""
    for action in menu.actions():
        if action.text() == text:
            return action
    raise KeyError(f"no menu entry {text!r}: {[a.text() for a in menu.actions()]}")
