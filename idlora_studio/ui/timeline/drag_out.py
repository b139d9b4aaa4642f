"""Dragging the timeline out of the window: a render kept up to date, and its grip.

:class:`TimelineAutoRender` watches the open project: every edit (clips, in/out marks, another
project) cancels the background render in flight at once, and once the edits pause for
``DELAY_MS`` it asks the ``DragExporter`` to render the new state in the background (idle
priority). :class:`DragHandle` is the grip in the transport bar: it shows whether that file
is ready ("ready ✓") or how far the render is, and dragging it starts the system drag at once
when the file is ready (a readable ``<project>-timeline.mp4``), else after the render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from idlora_studio.state.project import ProjectState
from idlora_studio.ui.drag_export import DragExporter, _safe_name, file_mime
from idlora_studio.ui.palette import OK, TEXT_DIM, WARN


class TimelineAutoRender(QObject):
    """Keeps ``spec_fn()`` (what a drag of the timeline delivers) rendered after edits."""

    DELAY_MS = 800

    def __init__(
        self,
        state: ProjectState,
        exporter: DragExporter,
        spec_fn: Callable[[], Any],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.exporter = exporter
        self.spec_fn = spec_fn
        self.timer = QTimer(self, singleShot=True, interval=self.DELAY_MS)
        self.timer.timeout.connect(self.render_now)
        for signal in (state.clips_changed, state.marks_changed, state.project_changed):
            signal.connect(self.edited)
        if state.clips:
            self.edited()

    def file_name(self) -> str:
        st = self.state
        part = "-in-out" if st.in_point is not None or st.out_point is not None else ""
        return f"{_safe_name(st.name or 'timeline')}-timeline{part}.{self.exporter.fmt}"

    def edited(self) -> None:
        """The timeline changed: the render in flight is stale; render again after a pause."""
        self.exporter.cancel_background(waiting=bool(self.state.clips))
        self.timer.start()

    def render_now(self, *, waiting: bool = False) -> None:
        """Render the current state (``waiting``: the user waits for it, normal priority)."""
        self.timer.stop()
        spec = self.spec_fn() if self.state.clips else None
        self.exporter.keep_rendered(spec, self.file_name(), now=waiting)


class DragHandle(QWidget):
    """A grip: drag it out of the window to drop the whole timeline (or in/out) as a file."""

    drag_started = Signal(str)  # the file handed to the drag ("" while it renders)

    def __init__(
        self,
        exporter: DragExporter | None,
        state: ProjectState,
        spec_fn: Callable[[], Any],
        auto: TimelineAutoRender | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.exporter = exporter
        self.state = state
        self.spec_fn = spec_fn
        self.auto = auto
        self.setFixedSize(190, 28)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self._press: QPointF | None = None
        if exporter is not None:
            exporter.background_changed.connect(self._changed)
        state.clips_changed.connect(self._changed)
        self._changed()

    def status_text(self) -> str:
        """What the grip says: whether a drag can start at once."""
        if self.exporter is None or not self.state.clips:
            return "⠿  Drag out MP4"
        what, progress = self.exporter.background_state()
        if what == "ready":
            return "⠿  Drag out MP4 · ready ✓"
        if what == "rendering":
            return f"⠿  MP4 · rendering {int(progress * 100)}%"
        if what == "failed":
            return "⠿  MP4 · render failed"
        return "⠿  MP4 · rendering soon"

    def _changed(self) -> None:
        what = self.exporter.background_state()[0] if self.exporter is not None else "idle"
        tips = {
            "ready": "The timeline (or the in/out range) is rendered: drag this out of the "
            "window to drop it as an MP4.",
            "rendering": "Rendering the timeline in the background (low priority); you can "
            "drag once it is ready.",
            "failed": "The background render failed: "
            + (self.exporter.background_error if self.exporter is not None else ""),
        }
        self.setToolTip(
            tips.get(what, "Drag out of the window to drop the timeline (or in/out) as an MP4")
        )
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        what = self.exporter.background_state()[0] if self.exporter is not None else "idle"
        colour = {"ready": OK, "failed": WARN}.get(what, TEXT_DIM)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor("#4a5470"), 1, Qt.PenStyle.DashLine))
        p.setBrush(QColor("#222634"))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        if what == "rendering":
            _, progress = self.exporter.background_state()  # type: ignore[union-attr]
            bar = QRectF(self.rect()).adjusted(3, self.height() - 5, -3, -2)
            p.fillRect(QRectF(bar.left(), bar.top(), bar.width() * progress, 3), QColor("#6c8cff"))
        p.setPen(colour)
        p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.status_text())
        p.end()

    def drag(self) -> None:
        """Start dragging the timeline's file: at once when its render is ready."""
        if self.exporter is None or not self.state.clips:
            return
        ready = self.exporter.background_file()
        if ready is not None:
            self.drag_started.emit(str(ready))
            self.exporter.exec_drag(self, file_mime(ready))
            return
        self.drag_started.emit("")
        if self.auto is not None and self.auto.timer.isActive():
            self.auto.render_now(waiting=True)  # edits just paused: the user waits, go now
        self.exporter.start_drag(self, self.spec_fn())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._press = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is None or (event.position() - self._press).manhattanLength() < 8:
            return
        self._press = None
        self.drag()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._press = None
