"""App-test helpers: windows around a fake or real library, simulated file drops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from tests.app.fake_library import FakeLibrary


def drop_files(target: QWidget, files: Sequence[Path], pos: QPoint | None = None) -> bool:
    """Deliver drag-enter, drag-move and drop of ``files`` to ``target``; True if accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    point = pos if pos is not None else QPoint(target.width() - 10, target.height() - 10)
    actions = Qt.DropAction.CopyAction
    buttons = Qt.MouseButton.LeftButton
    mods = Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point, actions, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    move = QDragMoveEvent(point, actions, mime, buttons, mods)
    QApplication.sendEvent(target, move)
    drop = QDropEvent(QPointF(point), actions, mime, buttons, mods)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


@pytest.fixture
def fake_library() -> FakeLibrary:
    return FakeLibrary()


@pytest.fixture
def settings(paths):
    from idlora_studio.settings import Settings

    return Settings.load(paths.settings_path)


@pytest.fixture
def fake_window(qtbot, paths, settings, fake_library) -> Iterator:
    from idlora_studio.app import build_main_window

    window = build_main_window(paths, settings, fake_library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=5000)
    yield window
    window.shutdown()


@pytest.fixture
def real_library(paths):
    from idlora_studio.library import Library

    library = Library.open(paths)
    yield library
    library.close()


@pytest.fixture
def real_window(qtbot, paths, settings, real_library) -> Iterator:
    from idlora_studio.app import build_main_window

    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=10000)
    yield window
    window.shutdown()
