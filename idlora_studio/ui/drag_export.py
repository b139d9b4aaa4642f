"""Drag-and-drop export out of the window, and bundle drops into it.

**Out.** Dragging a take from the bin, a clip (or the in/out range) from the timeline, or the
whole timeline (its drag handle) out of the window drops a finished, labelled file. When the
drag starts, :class:`DragExporter` renders the piece through ``engine.export.export_timeline``
into ``paths.drag_dir`` on a worker -- so the file carries the AI-generated metadata and its
JSON sidecar like any export. Files are named by a hash of what they contain (sources,
ranges, format, recipes), so dragging the same thing again is instant. While a render runs a
small progress popup follows the cursor; if the button is still held when it finishes, the
system drag starts with ``text/uri-list`` of the file (plus any in-app mime data).

Bundles dropped *into* the window are handled by ``idlora_studio.ui.project_actions``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QObject, QPoint, Qt, QUrl, Signal
from PySide6.QtGui import QCursor, QDrag, QGuiApplication
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget

from idlora_studio.workers.tasks import TaskRunner


def spec_key(spec: Any, fmt: str, quality: str) -> str:
    """A content hash of what an export of ``spec`` would contain."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, (list, tuple)):
            return [plain(o) for o in obj]
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, Path):
            try:
                st = obj.stat()
                return [str(obj), st.st_size, st.st_mtime_ns]
            except OSError:
                return str(obj)
        return obj

    text = json.dumps([plain(spec), fmt, quality], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _safe_name(title: str) -> str:
    name = re.sub(r"[^\w\- ]+", "", title or "").strip().replace(" ", "-")
    return (name or "idlora")[:40]


def file_mime(path: Path, extra: QMimeData | None = None) -> QMimeData:
    """Mime data carrying ``path`` as a file URL (plus ``extra``'s formats)."""
    mime = QMimeData()
    if extra is not None:
        for fmt in extra.formats():
            mime.setData(fmt, extra.data(fmt))
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


class _ProgressPopup(QFrame):
    """A small frameless progress cue near the cursor."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("dragProgress")
        self.label = QLabel("Preparing file…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedHeight(8)
        self.bar.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.setFixedWidth(200)

    def show_at_cursor(self) -> None:
        self.move(QCursor.pos() + QPoint(16, 16))
        self.show()


class _Progress(QObject):
    value = Signal(float)


class DragExporter(QObject):
    """Renders pieces of the timeline for drag-out, with a content-keyed file cache."""

    ready = Signal(str, str)  # key, path
    failed = Signal(str, str)  # key, message

    def __init__(
        self,
        drag_dir: Path,
        runner: TaskRunner,
        *,
        fmt: str = "mp4",
        quality: str = "high",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.drag_dir = Path(drag_dir)
        self.runner = runner
        self.fmt = fmt
        self.quality = quality
        self.renders = 0  # how many exports actually ran (tests: a second drag is cached)
        self._pending: dict[str, list[Callable[[Path], None]]] = {}
        self._popup: _ProgressPopup | None = None

    def target(self, spec: Any) -> Path:
        key = spec_key(spec, self.fmt, self.quality)
        return self.drag_dir / f"{_safe_name(getattr(spec, 'title', ''))}-{key}.{self.fmt}"

    def cached(self, spec: Any) -> Path | None:
        path = self.target(spec)
        return path if path.is_file() else None

    def prepare(self, spec: Any, on_ready: Callable[[Path], None] | None = None) -> Path | None:
        """The finished file for ``spec`` when cached (``on_ready`` is then called at once),
        else None after starting (or joining) its render; ``on_ready(path)`` follows."""
        path = self.target(spec)
        if path.is_file():
            if on_ready is not None:
                on_ready(path)
            return path
        key = path.stem.rsplit("-", 1)[-1]
        running = key in self._pending
        waiters = self._pending.setdefault(key, [])
        if on_ready is not None:
            waiters.append(on_ready)
        if running:
            return None
        progress = _Progress(self)
        progress.value.connect(self._show_progress)
        fmt, quality = self.fmt, self.quality

        def work() -> Path:
            from engine.export import export_timeline

            self.drag_dir.mkdir(parents=True, exist_ok=True)
            export_timeline(spec, path, fmt, quality=quality, progress=progress.value.emit)
            return path

        def done(result: Path) -> None:
            progress.deleteLater()
            self.renders += 1
            self._hide_popup()
            self.ready.emit(key, str(result))
            for cb in self._pending.pop(key, []):
                cb(result)

        def fail(exc: BaseException) -> None:
            progress.deleteLater()
            self._pending.pop(key, None)
            self._hide_popup()
            self.failed.emit(key, str(exc))

        self.runner.submit(work, done, fail)
        return None

    # ------------------------------------------------------------------ drags
    def start_drag(self, source: QWidget, spec: Any, extra: QMimeData | None = None) -> None:
        """Drag ``spec`` as a file out of ``source``: now when cached, else after rendering
        (only if the mouse button is still held then)."""
        path = self.cached(spec)
        if path is not None:
            self._exec(source, path, extra)
            return
        self._popup = self._popup or _ProgressPopup()
        self._popup.label.setText("Preparing file for drag…")
        self._popup.bar.setValue(0)
        self._popup.show_at_cursor()
        QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)

        def go(p: Path) -> None:
            QGuiApplication.restoreOverrideCursor()
            if QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
                self._exec(source, p, extra)

        self.prepare(spec, go)

    def _exec(self, source: QWidget, path: Path, extra: QMimeData | None) -> None:
        drag = QDrag(source)
        drag.setMimeData(file_mime(path, extra))
        drag.exec(Qt.DropAction.CopyAction)

    def _show_progress(self, value: float) -> None:
        if self._popup is not None and self._popup.isVisible():
            self._popup.bar.setValue(int(value * 100))
            self._popup.move(QCursor.pos() + QPoint(16, 16))

    def _hide_popup(self) -> None:
        if self._popup is not None:
            self._popup.hide()
