"""Value widgets take the mouse wheel only while they have keyboard focus.

Scrolling a form with the wheel must scroll the form, not change the consent date or the
clip under the cursor. One application-wide event filter does it for every window, the way
Qt Creator and KDE applications do (rather than patching each widget):

- a wheel event on an unfocused value widget (spin boxes, date/time edits, combo boxes,
  sliders and dials; not scroll bars) is ignored, so Qt hands it to the parent, and the
  enclosing scroll area scrolls;
- value widgets are polished with ``Qt.StrongFocus`` instead of ``Qt.WheelFocus``, so the
  wheel does not give them focus either (Qt gives focus on wheel *before* delivering it).

A focused value widget still takes the wheel, as users expect after clicking into it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

_VALUE_TYPES = (QAbstractSpinBox, QComboBox, QAbstractSlider)


def is_value_widget(obj: QObject) -> bool:
    """A widget whose value the wheel changes (spin/date/time boxes, combos, sliders, dials)."""
    return isinstance(obj, _VALUE_TYPES) and not isinstance(obj, QScrollBar)


def _strong_focus(widget: QWidget) -> None:
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class WheelGuard(QObject):
    """The event filter (see the module docstring); install with :func:`install_wheel_guard`."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # Every event of the application passes here: the cheap isinstance test comes first
        # (asking a PySide event for its type() builds an enum object each time).
        if not isinstance(obj, _VALUE_TYPES) or isinstance(obj, QScrollBar):
            return False
        if isinstance(event, QWheelEvent):
            if not obj.hasFocus():  # type: ignore[attr-defined]
                event.ignore()  # ignored + filtered: Qt passes it on to the parent
                return True
        elif event.type() == QEvent.Type.Polish:
            _strong_focus(obj)  # type: ignore[arg-type]
        return False


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the guard on ``app`` once (later calls return the same guard); widgets that
    exist already get their focus policy fixed here."""
    guard = app.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
        for widget in QApplication.allWidgets():
            if is_value_widget(widget):
                _strong_focus(widget)
    return guard
