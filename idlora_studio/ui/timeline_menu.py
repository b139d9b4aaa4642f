"""The Timeline menu: every key the timeline understands, listed with its shortcut.

The timeline canvas's ``keyPressEvent`` stays the one place those keys are interpreted; each
menu entry (and its shortcut, active while the focus is anywhere on the Edit page) hands the
same key to the canvas. So the menu documents exactly what the keys do and cannot drift from
them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

K = Qt.Key
M = Qt.KeyboardModifier
#: (menu text, shortcuts shown/active, key and modifiers handed to the canvas); None: a
#: separator.
TIMELINE_KEYS: list[tuple[str, tuple[str, ...], Qt.Key, Qt.KeyboardModifier] | None] = [
    ("&Play / Pause", ("Space",), K.Key_Space, M.NoModifier),
    ("Play &Backwards", ("J",), K.Key_J, M.NoModifier),
    ("S&top", ("K",), K.Key_K, M.NoModifier),
    ("Play &Forwards (again: faster)", ("L",), K.Key_L, M.NoModifier),
    None,
    ("Pre&vious Frame", ("Left",), K.Key_Left, M.NoModifier),
    ("&Next Frame", ("Right",), K.Key_Right, M.NoModifier),
    ("Back One Second", ("Shift+Left",), K.Key_Left, M.ShiftModifier),
    ("Forward One Second", ("Shift+Right",), K.Key_Right, M.ShiftModifier),
    ("Go to &Start", ("Home",), K.Key_Home, M.NoModifier),
    ("Go to &End", ("End",), K.Key_End, M.NoModifier),
    None,
    ("Set &In Point", ("I",), K.Key_I, M.NoModifier),
    ("Set &Out Point", ("O",), K.Key_O, M.NoModifier),
    ("&Clear In/Out", ("Alt+X",), K.Key_X, M.AltModifier),
    None,
    ("Sp&lit Clip at Playhead", ("S",), K.Key_S, M.NoModifier),
    ("&Delete Clip", ("Delete", "Backspace"), K.Key_Delete, M.NoModifier),
    None,
    ("Zoom &In", ("+", "="), K.Key_Plus, M.NoModifier),
    ("Zoom O&ut", ("-",), K.Key_Minus, M.NoModifier),
]


def send_key(target: QWidget, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """Hand a key press to ``target``'s key handler. Called directly, not through
    ``sendEvent``: Qt offers a synthetic key press to the shortcut map first, which would
    trigger this very action again."""
    target.keyPressEvent(QKeyEvent(QEvent.Type.KeyPress, key, modifiers))


def build_timeline_menu(window: Any, page: QWidget, panel: Any) -> QMenu:
    """The Timeline menu for ``panel`` (a TimelinePanel); shortcuts are active while the focus
    is on ``page`` (the Edit page)."""
    menu = QMenu("&Timeline", window)
    menu.setObjectName("timelineMenu")
    canvas = panel.canvas
    for entry in TIMELINE_KEYS:
        if entry is None:
            menu.addSeparator()
            continue
        text, shortcuts, key, mods = entry
        action = QAction(text, page)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _c=False, k=key, m=mods: send_key(canvas, k, m))
        page.addAction(action)
        menu.addAction(action)
    menu.addSeparator()
    fit = QAction("Zoom to &Fit", page)
    fit.setShortcut(QKeySequence("Shift+Z"))
    fit.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    fit.triggered.connect(lambda _c=False: canvas.zoom_to_fit())
    page.addAction(fit)
    menu.addAction(fit)
    menu.addSeparator()
    export = QAction("E&xport Timeline…", page)
    export.setShortcut(QKeySequence("Ctrl+E"))
    export.triggered.connect(lambda _c=False: panel.open_export_dialog())
    window.addAction(export)
    menu.addAction(export)
    return menu
