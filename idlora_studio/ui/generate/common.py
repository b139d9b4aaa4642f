"""Small pieces every part of the Generate page uses: labels, a collapsible section, roles."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ID_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2

PANEL_STYLE = """
#fieldStack, #fieldStack QLabel, QGroupBox QWidget#fieldStack { background: transparent; }
QTableView { background: #1b1d23; border: 1px solid #2a2e37; border-radius: 8px;
             selection-background-color: #2f3646; selection-color: #e8eaf0; }
QHeaderView::section { background: #20232b; color: #9aa1b2; border: none;
                       border-bottom: 1px solid #2a2e37; padding: 4px 6px; }
#collapseButton { border: none; background: transparent; color: #c5cad6; padding: 4px 2px; }
#adviceLabel { color: #d9b46a; background: transparent; }
#hintBox, #resumeBar { background: #1f2a3a; border: 1px solid #2f4466; border-radius: 8px; }
#hintBox QLabel, #resumeBar QLabel { background: transparent; }
"""


def bound(
    spin: QSpinBox | QDoubleSpinBox, name: str, tip: str = "", high: float | None = None
) -> None:
    """Give ``spin`` the range of the generation parameter ``name`` (:mod:`engine.limits`,
    the same bounds the engine and the CLI enforce) and a tooltip ending with the range and
    its reason. ``high`` lowers the top (a widget's own limit, e.g. a 32-bit spin box)."""
    from engine.limits import GENERATION

    limit = GENERATION[name]
    top = limit.high if high is None else min(limit.high, high)
    if isinstance(spin, QSpinBox):
        spin.setRange(int(limit.low), int(top))
    else:
        spin.setRange(float(limit.low), float(top))
    spin.setToolTip(bound_tip(name, tip))


def bound_tip(name: str, tip: str = "") -> str:
    """``tip`` followed by the generation parameter ``name``'s range and its reason."""
    from engine.limits import GENERATION

    limit = GENERATION[name]
    lead = f"{tip.rstrip()}\n" if tip else ""
    return f"{lead}Allowed: {limit.describe()}: {limit.reason}."


def fmt_seconds(s: float) -> str:
    """``1.5`` -> ``"1.5 s"``, ``2.0`` -> ``"2 s"``."""
    return f"{s:.2f}".rstrip("0").rstrip(".") + " s"


def problem_label() -> QLabel:
    """A hidden, wrapping warning label shown under a field when it has a problem."""
    label = QLabel()
    label.setObjectName("warningLabel")
    label.setWordWrap(True)
    label.hide()
    return label


def show_problem(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


def dim(text: str = "") -> QLabel:
    """A secondary, wrapping label (notes under a field)."""
    label = QLabel(text)
    label.setObjectName("dimLabel")
    label.setWordWrap(True)
    return label


def stack(*items: QWidget | QHBoxLayout) -> QWidget:
    """Widgets (or row layouts) stacked tightly: a field with its notes and problems."""
    w = QWidget()
    w.setObjectName("fieldStack")
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(3)
    for item in items:
        if isinstance(item, QWidget):
            lay.addWidget(item)
        else:
            lay.addLayout(item)
    return w


class Collapsible(QWidget):
    """A header button that shows/hides a body widget."""

    def __init__(self, title: str, body: QWidget, expanded: bool = False) -> None:
        super().__init__()
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setObjectName("collapseButton")
        self.button.setAutoRaise(True)
        self.body = body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.button)
        lay.addWidget(body)
        self.button.toggled.connect(self.set_expanded)
        self.set_expanded(expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(expanded)
        self.button.blockSignals(False)
        self.button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()


def set_number(spin: Any, value: Any) -> None:
    """``spin.setValue(value)`` if ``value`` is a number (restoring saved forms: anything else
    leaves the field as it is; the spin box clamps to its range)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        spin.setValue(value)


def set_choice(combo: QComboBox, data: Any) -> None:
    """Choose the item whose data is ``data``, if there is one."""
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)


def set_text(edit: QPlainTextEdit, text: Any) -> None:
    if isinstance(text, str) and text != edit.toPlainText():
        edit.setPlainText(text)
