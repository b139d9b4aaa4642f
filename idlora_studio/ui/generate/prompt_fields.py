"""What happens: the Visual / Speech / Sounds fields, the assembled tagged prompt and the
negative prompt."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFontMetricsF, QResizeEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import api
from engine.api import PromptParts
from idlora_studio.ui.generate.common import (
    Collapsible,
    dim,
    problem_label,
    set_text,
    show_problem,
    stack,
)


class GrowingTextEdit(QPlainTextEdit):
    """A text field as tall as its text (wrapped lines), between ``min_lines`` and
    ``max_lines``: a prompt is read whole without scrolling a two-line box; past
    ``max_lines`` the field scrolls (the form around it scrolls too). It refits when the
    text, its width, the font or the style (padding) changes."""

    def __init__(self, placeholder: str, min_lines: int, max_lines: int) -> None:
        super().__init__()
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        self.min_lines, self.max_lines = min_lines, max_lines
        self.document().documentLayout().documentSizeChanged.connect(lambda _s: self._fit())
        self._fit()

    def height_for_lines(self, lines: int) -> int:
        margins = self.contentsMargins()  # frame, border and the stylesheet's padding
        chrome = margins.top() + margins.bottom() + int(self.document().documentMargin() * 2)
        # a laid-out line takes its font's height rounded up (15.1 px -> 16)
        metrics = QFontMetricsF(self.font())
        line = math.ceil(max(metrics.height(), metrics.lineSpacing()))
        return lines * line + chrome + 2

    def wrapped_lines(self) -> int:
        """Lines the text takes at the current width (QPlainTextDocumentLayout's size is in
        lines)."""
        return max(1, int(self.document().documentLayout().documentSize().height()))

    def _fit(self) -> None:
        lines = self.wrapped_lines()
        shown = max(self.min_lines, min(lines, self.max_lines))
        # Below the maximum no scroll bar is ever needed (and none may take width away
        # and wrap one more line, which would grow the field again).
        self.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAsNeeded
            if lines > self.max_lines
            else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        height = self.height_for_lines(shown)
        if height != self.minimumHeight() or height != self.maximumHeight():
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)  # re-wraps the text at the new width
        if event.size().width() != event.oldSize().width():
            self._fit()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self._fit()


class PromptFields(QGroupBox):
    """The three prompt parts (``parts()``) and the negative prompt; ``changed`` on any edit."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__("Prompt")
        lay = QFormLayout(self)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.visual_edit = self._text_field("What we see: the person, framing, light, motion")
        self.speech_edit = self._text_field("What the person says, word for word")
        self.sounds_edit = self._text_field("Other sounds: room tone, background", 1, 4)
        self.speech_problem = problem_label()
        self.assembled_label = dim()
        self.assembled_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.assembled_label.setObjectName("promptPreview")
        lay.addRow("Visual", self.visual_edit)
        lay.addRow("Speech", stack(self.speech_edit, self.speech_problem))
        lay.addRow("Sounds", self.sounds_edit)
        lay.addRow("Prompt", self.assembled_label)

        self.negative_edit = GrowingTextEdit("", 3, 8)
        self.negative_edit.setPlainText(api.DEFAULT_NEGATIVE_PROMPT)
        self.negative_edit.textChanged.connect(self.changed)
        self.negative_reset_button = reset = QPushButton("Reset to default")
        reset.clicked.connect(lambda: self.negative_edit.setPlainText(api.DEFAULT_NEGATIVE_PROMPT))
        neg_body = QWidget()
        nl = QVBoxLayout(neg_body)
        nl.setContentsMargins(0, 0, 0, 0)
        nl.addWidget(self.negative_edit)
        nl.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        self.negative_section = Collapsible("Negative prompt", neg_body)
        self.negative_section.button.toggled.connect(self.changed)
        lay.addRow(self.negative_section)

    def _text_field(
        self, placeholder: str, min_lines: int = 2, max_lines: int = 8
    ) -> QPlainTextEdit:
        edit = GrowingTextEdit(placeholder, min_lines, max_lines)
        edit.textChanged.connect(self.changed)
        return edit

    def parts(self) -> PromptParts:
        return PromptParts(
            visual=self.visual_edit.toPlainText(),
            speech=self.speech_edit.toPlainText(),
            sounds=self.sounds_edit.toPlainText(),
        )

    def negative_prompt(self) -> str:
        return self.negative_edit.toPlainText()

    def problems(self) -> dict[str, str]:
        if not self.speech_edit.toPlainText().strip():
            return {"speech": "Write what the person says: the Speech field is empty."}
        return {}

    def refresh(self, problems: dict[str, str]) -> None:
        """Show the assembled prompt and the Speech problem (if any)."""
        self.assembled_label.setText(self.parts().tagged() or "(empty)")
        show_problem(self.speech_problem, problems.get("speech", ""))

    # ------------------------------------------------------------------ saved form
    def form_state(self) -> dict[str, Any]:
        return {
            "visual": self.visual_edit.toPlainText(),
            "speech": self.speech_edit.toPlainText(),
            "sounds": self.sounds_edit.toPlainText(),
            "negative": self.negative_edit.toPlainText(),
            "negative_open": self.negative_section.expanded,
        }

    def restore(self, state: dict[str, Any]) -> None:
        set_text(self.visual_edit, state.get("visual"))
        set_text(self.speech_edit, state.get("speech"))
        set_text(self.sounds_edit, state.get("sounds"))
        set_text(self.negative_edit, state.get("negative"))
        if isinstance(state.get("negative_open"), bool):
            self.negative_section.set_expanded(state["negative_open"])
