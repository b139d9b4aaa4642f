"""A reusable waveform view drawing peak values (mirrored bars).

Feed it peaks in [0, 1] (e.g. ``VoiceImport.peaks`` or a recorder's live envelope) and,
optionally, the clip duration so that a highlighted range (the suggested 5 s window) and a
play head can be given in seconds. Drawing only; no audio decoding happens here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class WaveformView(QWidget):
    """Draws peaks; ``clicked_at(seconds)`` fires when the user clicks (needs a duration)."""

    clicked_at = Signal(float)

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
            self.clicked_at.emit(event.position().x() / self.width() * self._duration_s)
        super().mousePressEvent(event)
