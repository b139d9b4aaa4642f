"""A reusable waveform view drawing peak values (mirrored bars).

Feed it peaks in [0, 1] (e.g. ``VoiceImport.peaks`` or a recorder's live envelope) and,
optionally, the clip duration so that a highlighted range (the suggested 5 s window) and a
play head can be given in seconds. Drawing only; no audio decoding happens here.

With ``set_window_movable(True)`` the highlighted range becomes a window the user moves:
dragging it (or clicking beside it, which centres it there; or the arrow keys when focused)
keeps its length, shows the new place live (``window_moving``) and reports the final place
once on release (``window_moved``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class WaveformView(QWidget):
    """Draws peaks; ``clicked_at(seconds)`` fires when the user clicks (needs a duration)."""

    clicked_at = Signal(float)
    window_moving = Signal(float, float)  # start_s, end_s while dragging
    window_moved = Signal(float, float)  # start_s, end_s once the drag ends

    KEY_STEP_S = 0.1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(60)
        self._peaks = np.zeros(0, dtype=np.float32)
        self._duration_s: float | None = None
        self._highlight: tuple[float, float] | None = None
        self._playhead_s: float | None = None
        self.wave_color = QColor(90, 160, 230)
        self.highlight_color = QColor(250, 200, 60, 70)
        self.setAccessibleName("Waveform")
        self._movable = False
        self._grab_s: float | None = None  # where in the window the pointer holds it
        self._moved = False

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(400, 90)

    # --- data ------------------------------------------------------------------------
    def set_peaks(
        self, peaks: Sequence[float] | np.ndarray, duration_s: float | None = None
    ) -> None:
        """Show ``peaks`` (values in [0, 1], spread over the whole width)."""
        self._peaks = np.clip(np.asarray(peaks, dtype=np.float32).ravel(), 0.0, 1.0)
        self._duration_s = duration_s
        self.update()

    def peaks(self) -> np.ndarray:
        return self._peaks

    def duration_s(self) -> float | None:
        return self._duration_s

    def set_highlight(self, start_s: float | None, end_s: float | None = None) -> None:
        """Shade ``start_s``..``end_s`` (seconds; needs a duration). ``None`` clears it."""
        self._highlight = None if start_s is None or end_s is None else (start_s, end_s)
        self.update()

    def highlight(self) -> tuple[float, float] | None:
        return self._highlight

    def set_window_movable(self, movable: bool) -> None:
        """Let the user move the highlighted range (needs a duration and a highlight)."""
        self._movable = movable
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus if movable else Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.OpenHandCursor if movable else Qt.CursorShape.ArrowCursor)

    def _seconds_at(self, x: float) -> float:
        return max(0.0, min(1.0, x / max(1, self.width()))) * (self._duration_s or 0.0)

    def _place_window(self, start_s: float) -> bool:
        """Move the window to start at ``start_s`` (clamped inside the clip); True if moved."""
        if self._highlight is None or not self._duration_s:
            return False
        length = self._highlight[1] - self._highlight[0]
        start = max(0.0, min(start_s, self._duration_s - length))
        if abs(start - self._highlight[0]) < 1e-6:
            return False
        self._highlight = (start, start + length)
        self._moved = True
        self.window_moving.emit(*self._highlight)
        self.update()
        return True

    def set_playhead(self, seconds: float | None) -> None:
        self._playhead_s = seconds
        self.update()

    def clear(self) -> None:
        self._peaks = np.zeros(0, dtype=np.float32)
        self._duration_s = None
        self._highlight = None
        self._playhead_s = None
        self.update()

    # --- drawing -----------------------------------------------------------------------
    def _x(self, seconds: float) -> float:
        if not self._duration_s:
            return 0.0
        return max(0.0, min(1.0, seconds / self._duration_s)) * self.width()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(QRectF(0, 0, w, h), QColor(25, 25, 28))
        mid = h / 2.0
        if self._highlight is not None and self._duration_s:
            x0, x1 = self._x(self._highlight[0]), self._x(self._highlight[1])
            p.fillRect(QRectF(x0, 0, max(1.0, x1 - x0), h), self.highlight_color)
            if self._movable:  # grab edges: the window is a thing to move
                edge = QColor(self.highlight_color)
                edge.setAlpha(230)
                p.setPen(QPen(edge, 2))
                p.drawLine(int(x0) + 1, 0, int(x0) + 1, h)
                p.drawLine(int(x1) - 1, 0, int(x1) - 1, h)
        p.setPen(QColor(60, 60, 66))
        p.drawLine(0, int(mid), w, int(mid))
        n = self._peaks.size
        if n and w > 0:
            # one column per pixel: max of the peaks falling into it
            edges = np.linspace(0, n, w + 1).astype(np.int64)
            edges[-1] = n
            cols = np.maximum.reduceat(self._peaks, np.minimum(edges[:-1], n - 1))
            p.setPen(self.wave_color)
            for x, v in enumerate(cols):
                half = float(v) * (mid - 1)
                if half >= 0.5:
                    p.drawLine(x, int(mid - half), x, int(mid + half))
        if self._playhead_s is not None and self._duration_s:
            p.setPen(QColor(240, 240, 240))
            x = int(self._x(self._playhead_s))
            p.drawLine(x, 0, x, h)
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._duration_s and self.width() > 0:
            at = self._seconds_at(event.position().x())
            self.clicked_at.emit(at)
            if (
                self._movable
                and self._highlight is not None
                and event.button() == Qt.MouseButton.LeftButton
            ):
                a, b = self._highlight
                if not a <= at <= b:  # clicked beside the window: centre it there
                    self._place_window(at - (b - a) / 2)
                    a, b = self._highlight
                self._grab_s = at - a
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._grab_s is not None:
            self._place_window(self._seconds_at(event.position().x()) - self._grab_s)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._grab_s is not None:
            self._grab_s = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self._finish_move()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        step = {Qt.Key.Key_Left: -self.KEY_STEP_S, Qt.Key.Key_Right: self.KEY_STEP_S}.get(
            Qt.Key(event.key())
        )
        if self._movable and self._highlight is not None and step is not None:
            self._place_window(self._highlight[0] + step)
            self._finish_move()
            event.accept()
            return
        super().keyPressEvent(event)

    def _finish_move(self) -> None:
        if self._moved and self._highlight is not None:
            self._moved = False
            self.window_moved.emit(*self._highlight)
