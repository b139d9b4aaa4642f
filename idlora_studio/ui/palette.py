"""Colours painted by custom widgets, matching ``resources/studio.qss``."""

from PySide6.QtGui import QColor

ACCENT = QColor("#6c8cff")
TEXT = QColor("#e8eaf0")
TEXT_DIM = QColor("#9aa1b2")
OK = QColor("#4cc38a")
WARN = QColor("#e5a84b")
