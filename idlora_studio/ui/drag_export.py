"""Drag-and-drop export out of the window: a finished, labelled file the moment a drag starts.

* **Takes** are MP4s already: dragging one from the bin drops *that* file, placed under a
  readable name (``<identity>-<project>-take<k>-seed<s>.mp4``) in ``paths.drag_dir/takes``
  by a hard link (a copy across file systems). Nothing is rendered.
* **The timeline** (the drag handle; the in/out range when set) is kept rendered in the
  background: after each edit :class:`DragExporter.keep_rendered` cancels the render in
  flight and, once the edits pause, renders the new state through
  ``engine.export.export_timeline`` on a thread at idle priority (``SCHED_IDLE`` on Linux:
  it only gets CPU nobody else wants, e.g. never ahead of a generation). ``background_changed``
  reports "rendering <p>%" / "ready" for the handle to show; a ready render is dropped at
  once under ``<project>-timeline.mp4``.
* **A trimmed clip** dragged out of the timeline is rendered on demand (content-keyed, so a
  second drag is instant); a small progress popup follows the cursor meanwhile, and the
  system drag starts when it is done if the button is still held.

Rendered files carry the AI-generated metadata and the JSON sidecar of any export. Bundles
dropped *into* the window are handled by ``idlora_studio.ui.project_actions``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QObject, QPoint, Qt, QThread, QUrl, Signal
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


def take_file_name(media: Any, project: str) -> str:
    """``<identity>-<project>-take<k>-seed<s>.mp4`` for a bin take (``TakeMedia``); ``k`` is
    the take's number (the bin's "take k")."""
    parts = [_safe_name(getattr(media, "identity_name", None) or "take"), _safe_name(project)]
    parts.append(f"take{media.take_id}")
    seed = getattr(media, "seed", None)
    if seed is not None:
        parts.append(f"seed{seed}")
    return "-".join(parts) + ".mp4"  # takes are MP4s (the store names files by hash)


def place_for_drag(source: Path, folder: Path, name: str) -> Path:
    """``source`` as ``folder/name``, at once: a hard link (no copy, no extra space), or a copy
    where links are not possible (another file system). An existing up-to-date one is kept;
    otherwise it is replaced atomically, so a reader never sees half a file."""
    source, dest = Path(source), Path(folder) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        st, dt_ = source.stat(), dest.stat()
        if os.path.samestat(st, dt_) or (
            st.st_size == dt_.st_size and st.st_mtime_ns == dt_.st_mtime_ns
        ):
            return dest
    except OSError:
        pass
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)  # keeps the mtime: the check above finds it up to date
    os.replace(tmp, dest)
    return dest


def _lower_thread_priority() -> int | None:
    """Put the calling thread (and the encoder threads it starts, which inherit it) on the
    idle scheduler where there is one; returns the policy in force (tests read it)."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass
        return os.sched_getscheduler(0)
    return None


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
    """Files for drag-out: take files placed under readable names, renders of the timeline
    kept up to date in the background, and on-demand renders with a content-keyed cache."""

    ready = Signal(str, str)  # key, path
    failed = Signal(str, str)  # key, message
    background_changed = Signal()  # see ``background_state``

    #: Rendered files kept in ``drag_dir`` (the newest; older ones are deleted).
    KEEP_RENDERS = 6

    def __init__(
        self,
        drag_dir: Path,
        runner: TaskRunner,
        *,
        background_runner: TaskRunner | None = None,
        fmt: str = "mp4",
        quality: str = "high",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.drag_dir = Path(drag_dir)
        self.runner = runner
        if background_runner is None:
            background_runner = TaskRunner(max_threads=1, parent=self)
        background_runner.pool.setThreadPriority(QThread.Priority.IdlePriority)
        self.background_runner = background_runner
        self.fmt = fmt
        self.quality = quality
        self.renders = 0  # how many exports actually ran (tests: a second drag is cached)
        self.cancelled_renders = 0
        self.background_policy: int | None = None  # scheduler policy the last one ran under
        self._pending: dict[str, list[Callable[[Path], None]]] = {}
        self._popup: _ProgressPopup | None = None
        self._bg_key = ""
        self._bg_name = ""
        self._bg_cancel: Any = None
        self._bg_state = "idle"  # idle | waiting | rendering | ready | failed
        self._bg_progress = 0.0
        self._bg_error = ""

    # ------------------------------------------------------------------ takes
    def take_file(self, media: Any, project: str) -> Path:
        """The take's own MP4 under a readable name, ready to drop (no rendering)."""
        return place_for_drag(
            Path(media.video_path), self.drag_dir / "takes", take_file_name(media, project)
        )

    # ------------------------------------------------------------------ rendered pieces
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
        if not running:
            self._render(spec, path, key, self.runner, None)
        return None

    def _render(self, spec: Any, path: Path, key: str, runner: TaskRunner, cancel: Any) -> None:
        background = runner is self.background_runner
        progress = _Progress(self)
        progress.value.connect(lambda v: self._progress(key, v))
        fmt, quality = self.fmt, self.quality

        def work() -> Path:
            from engine.export import export_timeline

            if background:
                self.background_policy = _lower_thread_priority()
            self.drag_dir.mkdir(parents=True, exist_ok=True)
            export_timeline(
                spec, path, fmt, quality=quality, progress=progress.value.emit, cancel=cancel
            )
            return path

        def done(result: Path) -> None:
            progress.deleteLater()
            self.renders += 1
            self._hide_popup()
            if key == self._bg_key:
                self._set_background("ready", 1.0)
            self._prune(keep={result})
            self.ready.emit(key, str(result))
            for cb in self._pending.pop(key, []):
                cb(result)

        def fail(exc: BaseException) -> None:
            from engine.api import Cancelled

            progress.deleteLater()
            waiters = self._pending.pop(key, None)
            self._hide_popup()
            if isinstance(exc, Cancelled):
                self.cancelled_renders += 1
                if waiters:  # a drag was waiting for it: let it give up
                    self.failed.emit(key, "the timeline changed while it was rendering")
                return
            if key == self._bg_key:
                self._bg_error = str(exc)
                self._set_background("failed", 0.0)
            self.failed.emit(key, str(exc))

        runner.submit(work, done, fail)

    def _progress(self, key: str, value: float) -> None:
        if key == self._bg_key and self._bg_state == "rendering":
            self._bg_progress = value
            self.background_changed.emit()
        self._show_progress(value)

    def _prune(self, keep: set[Path]) -> None:
        """Keep the newest rendered files (and any still wanted); delete the rest."""
        try:
            files = [p for p in self.drag_dir.glob(f"*.{self.fmt}") if p.is_file()]
        except OSError:
            return
        files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.KEEP_RENDERS :]:
            key = old.stem.rsplit("-", 1)[-1]
            if old in keep or key in self._pending or key == self._bg_key:
                continue
            for f in (old, Path(f"{old}.json")):
                f.unlink(missing_ok=True)

    # ------------------------------------------------------------------ the background render
    def keep_rendered(self, spec: Any | None, name: str = "", *, now: bool = False) -> None:
        """Keep ``spec`` rendered in the background (idle priority) so that dragging it can
        start at once; the render of an older spec is cancelled. ``None``: nothing to keep
        (an empty timeline). ``name`` is the readable file name a drag delivers. ``now``:
        someone is waiting for it, render at normal priority."""
        key = spec_key(spec, self.fmt, self.quality) if spec is not None else ""
        self._bg_name = name or (f"{_safe_name(getattr(spec, 'title', ''))}.{self.fmt}")
        if key == self._bg_key and self._bg_state in ("rendering", "ready"):
            return
        self.cancel_background()
        self._bg_key = key
        if spec is None:
            self._set_background("idle", 0.0)
            return
        path = self.target(spec)
        if path.is_file():
            self._set_background("ready", 1.0)
            return
        from engine.api import CancelToken

        self._bg_cancel = CancelToken()
        self._bg_error = ""
        self._set_background("rendering", 0.0)
        self._pending.setdefault(key, [])
        runner = self.runner if now else self.background_runner
        self._render(spec, path, key, runner, self._bg_cancel)

    def cancel_background(self, waiting: bool = False) -> None:
        """Stop the background render in flight (an edit made it stale). With ``waiting``
        the state says a new render will follow."""
        if self._bg_cancel is not None and self._bg_state == "rendering":
            self._bg_cancel.cancel()
        self._bg_cancel = None
        if waiting:
            self._bg_key = ""
            self._set_background("waiting", 0.0)

    def background_state(self) -> tuple[str, float]:
        """("idle" | "waiting" | "rendering" | "ready" | "failed", progress 0..1)."""
        return self._bg_state, self._bg_progress

    @property
    def background_error(self) -> str:
        return self._bg_error

    def background_file(self) -> Path | None:
        """The ready render under its readable name (linked in ``drag_dir/out``), or None."""
        if self._bg_state != "ready" or not self._bg_key:
            return None
        rendered = next(iter(self.drag_dir.glob(f"*-{self._bg_key}.{self.fmt}")), None)
        if rendered is None:
            return None
        return place_for_drag(rendered, self.drag_dir / "out", self._bg_name)

    def _set_background(self, state: str, progress: float) -> None:
        self._bg_state, self._bg_progress = state, progress
        self.background_changed.emit()

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
            self.failed.disconnect(gave_up)
            if QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
                self._exec(source, p, extra)

        def gave_up(_key: str, _message: str) -> None:
            QGuiApplication.restoreOverrideCursor()
            self.failed.disconnect(gave_up)

        self.failed.connect(gave_up)
        self.prepare(spec, go)

    def _exec(self, source: QWidget, path: Path, extra: QMimeData | None) -> None:
        self.exec_drag(source, file_mime(path, extra))

    def exec_drag(self, source: QWidget, mime: QMimeData, pixmap: Any = None) -> None:
        """The system drag of ``mime`` (blocks in Qt's drag loop until the drop)."""
        drag = QDrag(source)
        drag.setMimeData(mime)
        if pixmap is not None:
            drag.setPixmap(pixmap)
        drag.exec(Qt.DropAction.CopyAction)

    def _show_progress(self, value: float) -> None:
        if self._popup is not None and self._popup.isVisible():
            self._popup.bar.setValue(int(value * 100))
            self._popup.move(QCursor.pos() + QPoint(16, 16))

    def _hide_popup(self) -> None:
        if self._popup is not None:
            self._popup.hide()
