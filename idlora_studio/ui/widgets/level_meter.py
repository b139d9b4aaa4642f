"""A horizontal audio level meter: RMS bar, peak bar, decaying peak hold, clip light.

The widget only draws what it is given: call :meth:`LevelMeter.set_levels` (dBFS values)
from a QTimer on the GUI thread. It keeps no reference to a recorder.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -60.0
HOLD_S = 1.0
CLIP_HOLD_S = 2.0


class LevelMeter(QWidget):
    """Shows peak and RMS in dBFS; ``levels_changed(peak_db, rms_db)`` fires on each update."""

    levels_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(22)
        self.peak_db = FLOOR_DB
        self.rms_db = FLOOR_DB
        self.hold_db = FLOOR_DB
        self._hold_t = 0.0
        self._clip_t = -1e9
        self.update_count = 0
        self.setAccessibleName("Input level")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 22)

    @property
    def clipping(self) -> bool:
        """The clip light is on (full scale was reached in the last couple of seconds)."""
        return time.monotonic() - self._clip_t < CLIP_HOLD_S

    def set_levels(self, peak_db: float, rms_db: float, clipped: bool = False) -> None:
        now = time.monotonic()
        self.peak_db = max(FLOOR_DB, min(0.0, peak_db))
        self.rms_db = max(FLOOR_DB, min(0.0, rms_db))
        if self.peak_db >= self.hold_db or now - self._hold_t > HOLD_S:
            self.hold_db, self._hold_t = self.peak_db, now
        if clipped:
            self._clip_t = now
        self.update_count += 1
        self.setToolTip(f"Peak {peak_db:.1f} dBFS, RMS {rms_db:.1f} dBFS")
        self.update()
        self.levels_changed.emit(float(peak_db), float(rms_db))

    def reset(self) -> None:
        self.peak_db = self.rms_db = self.hold_db = FLOOR_DB
        self._clip_t = -1e9
        self.update()

    @staticmethod
    def _fraction(db: float) -> float:
        return max(0.0, min(1.0, (db - FLOOR_DB) / -FLOOR_DB))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        clip_w = 18
        bar = QRectF(0, 0, max(1, self.width() - clip_w - 4), self.height())
        p.fillRect(bar, QColor(30, 30, 30))
        pal = [
            (-60.0, QColor(60, 170, 80)),
            (-12.0, QColor(220, 190, 40)),
            (-3.0, QColor(220, 60, 50)),
        ]
        # peak bar (lighter) then RMS bar (solid), coloured by zone
        for db, alpha in ((self.peak_db, 110), (self.rms_db, 255)):
            x_end = bar.width() * self._fraction(db)
            for i, (start_db, color) in enumerate(pal):
                stop_db = pal[i + 1][0] if i + 1 < len(pal) else 0.0
                x0 = bar.width() * self._fraction(start_db)
                x1 = min(x_end, bar.width() * self._fraction(stop_db))
                if x1 > x0:
                    c = QColor(color)
                    c.setAlpha(alpha)
                    p.fillRect(QRectF(x0, 3, x1 - x0, bar.height() - 6), c)
        hold_x = bar.width() * self._fraction(self.hold_db)
        p.fillRect(QRectF(max(0.0, hold_x - 2), 1, 2, bar.height() - 2), QColor(240, 240, 240))
        p.setPen(QColor(90, 90, 90))
        for db in (-48, -36, -24, -12, -6, -3):
            x = bar.width() * self._fraction(db)
            p.drawLine(int(x), int(bar.height()) - 3, int(x), int(bar.height()))
        clip_rect = QRectF(self.width() - clip_w, 2, clip_w, self.height() - 4)
        p.fillRect(clip_rect, QColor(230, 40, 40) if self.clipping else QColor(70, 30, 30))
        p.setPen(QColor(255, 255, 255))
        p.drawText(clip_rect, Qt.AlignmentFlag.AlignCenter, "C")
        p.end()
