"""Issue 11, problem 2: value widgets (spin boxes, combos, date edits, sliders) ignore the
mouse wheel unless they have keyboard focus, on every page, through one app-wide filter."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QSpinBox,
    QWidget,
)

from idlora_studio.ui.wheel_guard import WheelGuard, is_value_widget
from tests.app.studio_fixtures import Studio, studio  # noqa: F401 - fixture


def wheel(widget: QWidget, dy: int) -> bool:
    """Send one wheel notch (``dy`` = +-120) to the middle of ``widget``; True if accepted."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def value_of(w: QWidget) -> object:
    if isinstance(w, QComboBox):
        return (w.currentIndex(), w.currentText())
    if isinstance(w, QDateEdit):
        return w.date()
    if isinstance(w, QSpinBox | QDoubleSpinBox | QAbstractSlider):
        return w.value()
    if isinstance(w, QAbstractSpinBox):
        return w.text()
    raise AssertionError(type(w))


def can_change(w: QWidget) -> bool:
    """Whether a wheel could change ``w`` at all (enabled, something to move to)."""
    if not w.isEnabled():
        return False
    if isinstance(w, QComboBox):
        return w.count() > 1
    if isinstance(w, QAbstractSlider | QSpinBox | QDoubleSpinBox):
        return w.maximum() > w.minimum()
    return True


def test_one_guard_is_installed_on_the_application(studio: Studio) -> None:  # noqa: F811
    app = QApplication.instance()
    assert len(app.findChildren(WheelGuard)) == 1


def test_unfocused_value_widgets_ignore_the_wheel_on_every_page(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    # The identity editor's consent date is among what is checked (the reported case).
    editor = studio.window.editor
    assert editor.consent_box.isChecked()
    checked: dict[str, list[str]] = {}
    for key in window.pages():
        window.show_page(key)
        QApplication.processEvents()
        widgets = [
            w
            for w in window.page(key).findChildren(QWidget)
            if is_value_widget(w) and w.isVisible() and can_change(w)
        ]
        window.setFocus()
        for w in widgets:
            w.clearFocus()
            assert not w.hasFocus()
            # The wheel must not give the widget focus on its way in (Qt does that for
            # WheelFocus widgets before delivering a real wheel event).
            assert w.focusPolicy() != Qt.FocusPolicy.WheelFocus, w.objectName() or type(w)
            before = value_of(w)
            for dy in (-120, -120, 120, 120, 120):
                wheel(w, dy)
            assert value_of(w) == before, f"{type(w).__name__} on {key} took the wheel"
        checked[key] = sorted({type(w).__name__ for w in widgets})
    assert set(checked) == {"library", "generate", "edit"}
    assert "QDateEdit" in checked["library"]
    assert "QComboBox" in checked["generate"]


def test_a_focused_value_widget_still_takes_the_wheel(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    window.show_page("library")
    window.activateWindow()
    date = window.editor.consent_date
    date.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(date.hasFocus, timeout=5000)
    before = date.date()
    date.setCurrentSection(QDateEdit.Section.YearSection)
    wheel(date, 120)
    assert date.date() != before
