"""The window's notice area: the error notice and named banners, above every page.

``NoticeBar`` collects problems (refused files, failed saves) as dismissable lines.
``BannerArea`` holds *named* banners that stay until their owner clears them (e.g. "the
library is read-only", "first start: check this machine"), each with its level and optional
action buttons. Neither is ever modal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

LEVEL_ICONS = {"info": "ℹ", "warning": "⚠", "error": "⚠"}


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


class Banner(QFrame):
    """One named banner: icon, wrapped text, action buttons, optional dismiss button."""

    def __init__(
        self,
        key: str,
        text: str,
        level: str,
        actions: Sequence[tuple[str, Callable[[], None]]],
        dismissable: bool,
        on_dismiss: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.key = key
        self.setObjectName("banner")
        self.setProperty("level", level)
        icon = QLabel(LEVEL_ICONS.get(level, "ℹ"))
        icon.setObjectName("noticeIcon")
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 6, 8, 6)
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        self.buttons: dict[str, QPushButton] = {}
        for label, callback in actions:
            b = QPushButton(label)
            b.clicked.connect(callback)
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
            self.buttons[label] = b
        if dismissable:
            close = QToolButton()
            close.setText("✕")
            close.setAutoRaise(True)
            close.setToolTip("Dismiss")
            close.clicked.connect(lambda: on_dismiss(key))
            row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    def text(self) -> str:
        return self.label.text()


class BannerArea(QWidget):
    """Named banners stacked above the pages, plus the error notice (``notice``).

    ``show_banner(key, text, level="warning", actions=[("Retry", fn)], dismissable=True)``
    adds or replaces the banner ``key``; ``clear_banner(key)`` removes it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bannerArea")
        self.notice = NoticeBar()
        self._banners: dict[str, Banner] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._layout.addWidget(self.notice)

    def show_banner(
        self,
        key: str,
        text: str,
        level: str = "warning",
        actions: Sequence[tuple[str, Callable[[], None]]] = (),
        dismissable: bool = True,
    ) -> Banner:
        self.clear_banner(key)
        banner = Banner(key, text, level, actions, dismissable, self.clear_banner)
        self._banners[key] = banner
        self._layout.insertWidget(self._layout.count() - 1, banner)
        banner.show()
        return banner

    def clear_banner(self, key: str) -> None:
        banner = self._banners.pop(key, None)
        if banner is not None:
            banner.hide()
            banner.deleteLater()

    def banner(self, key: str) -> Banner | None:
        return self._banners.get(key)

    def keys(self) -> list[str]:
        return list(self._banners)
