"""The Edit page's parts: bin, monitor (viewer + transport bar with the drag-out grip and
Export…) and the timeline, as ``TimelinePanel``; ``build_timeline`` creates its services.

Split from ``timeline_widget`` (the canvas) by concern: this module composes and wires, the
canvas paints and edits.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget

from idlora_studio.state.project import ProjectState
from idlora_studio.ui.timeline.media_cache import MediaCache
from idlora_studio.ui.timeline.player import TimelinePlayer, fps_text, timecode
from idlora_studio.ui.timeline.timeline_widget import TimelineCanvas, TimelineView


class TimelinePanel(QWidget):
    """Bin and monitor (viewer + transport bar) on top, then the timeline. The parts are
    ``bin``, ``monitor`` and ``view``; the main window's Edit page lays them out as panels."""

    def __init__(
        self,
        state: ProjectState,
        cache: MediaCache,
        player: TimelinePlayer,
        exporter: object | None = None,
        export_runner: object | None = None,
        exports_dir: object | None = None,
        parent: QWidget | None = None,
    ) -> None:
        from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QToolButton

        from idlora_studio.ui.timeline.bin_view import BinView
        from idlora_studio.ui.timeline.drag_out import DragHandle, TimelineAutoRender
        from idlora_studio.ui.timeline.player import PlayerView

        super().__init__(parent)
        self.setObjectName("timelinePanel")
        self.state = state
        self.player = player
        self.exporter = exporter
        self._export_runner = export_runner
        self._exports_dir = exports_dir
        self.bin = BinView(state, cache, exporter)  # type: ignore[arg-type]
        self.viewer = PlayerView(player)
        self.canvas = TimelineCanvas(state, cache, player)
        self.view = TimelineView(self.canvas)

        def button(text: str, tip: str, slot: object) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        bar = QHBoxLayout()
        bar.setContentsMargins(8, 4, 8, 4)
        self.play_button = button("▶", "Play / pause (Space)", player.toggle)
        self.play_button.setObjectName("playButton")
        self.play_button.setFixedSize(32, 32)
        button("|◀", "Go to start (Home)", lambda: state.set_playhead(0))
        self.time_label = QLabel()
        self.time_label.setObjectName("dimLabel")
        self.time_label.setToolTip("Playhead / duration (hours:minutes:seconds:frames)")
        bar.addWidget(self.time_label)
        bar.addStretch(1)
        button("✂", "Split at playhead (S)", self._split)
        self.undo_button = button("↶", "Undo (Ctrl+Z)", state.undo)
        self.redo_button = button("↷", "Redo (Ctrl+Shift+Z)", state.redo)
        button("−", "Zoom out (-)", self.canvas.zoom_out)
        button("+", "Zoom in (+)", self.canvas.zoom_in)
        button("⇔", "Zoom to fit", self.canvas.zoom_to_fit)
        self.auto_render = (
            TimelineAutoRender(state, exporter, self.selection_spec, self)  # type: ignore[arg-type]
            if exporter is not None
            else None
        )
        self.drag_handle = DragHandle(
            exporter,  # type: ignore[arg-type]
            state,
            self.selection_spec,
            self.auto_render,
            self,
        )
        bar.addWidget(self.drag_handle)
        export = QToolButton()
        export.setText("Export…")
        export.setObjectName("primaryButton")
        export.clicked.connect(self.open_export_dialog)
        bar.addWidget(export)

        # The monitor (viewer over its transport bar), the bin and the timeline view are
        # three parts: the Edit page docks the bin and the timeline around the monitor.
        self.monitor = QWidget()
        self.monitor.setObjectName("timelineMonitor")
        monitor_layout = QVBoxLayout(self.monitor)
        monitor_layout.setContentsMargins(0, 0, 0, 0)
        monitor_layout.setSpacing(0)
        monitor_layout.addWidget(self.viewer, 1)
        monitor_layout.addLayout(bar)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.bin)
        top.addWidget(self.monitor)
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top, 1)
        layout.addWidget(self.view)

        state.playhead_changed.connect(self._update_time)
        state.clips_changed.connect(self._update_time)
        state.project_changed.connect(self._update_time)
        self._update_time()
        player.playing_changed.connect(lambda on: self.play_button.setText("⏸" if on else "▶"))
        state.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        state.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self.canvas.drag_out_requested.connect(self._drag_clip_out)
        self.canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.canvas.customContextMenuRequested.connect(self._canvas_context_menu)

    def _update_time(self, *_: object) -> None:
        st = self.state
        fps = st.fps
        self.time_label.setText(
            f"{timecode(st.playhead, fps)}  /  {timecode(st.duration, fps)}  ·  {fps_text(fps)}"
        )

    def _split(self) -> None:
        c = self.state.clip_at(self.state.playhead)
        if c is not None:
            self.state.split_clip(c.key, self.state.playhead)

    def clip_menu(self, key: int, frame: int) -> QMenu:
        """The right-click menu of the clip ``key``, opened at ``frame``: split there, delete,
        mark it as the in/out range, show its take in the bin. Entries that have a key show
        it (the key acts on the selected clip / the playhead, as in the Timeline menu)."""
        st = self.state
        clip = st.clip(key)
        menu = QMenu(self)

        def add(text: str, slot: Callable[[], object], shortcut: str = "") -> QAction:
            action = menu.addAction(text)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _c=False: slot())
            return action

        split = add("Split Here", lambda: st.split_clip(key, frame))
        split.setEnabled(clip.position < frame < clip.end)
        add("Delete Clip", lambda: st.remove_clip(key), "Delete")
        menu.addSeparator()

        def mark() -> None:
            st.set_in(clip.position)
            st.set_out(clip.end)

        add("Set In/Out to This Clip", mark)
        add("Go to Clip Start", lambda: st.set_playhead(clip.position))
        add("Show Take in Bin", lambda: self.bin.show_take(clip.take_id))
        return menu

    def _canvas_context_menu(self, pos: QPoint) -> None:
        _where, key = self.canvas.hit(QPointF(pos))
        if key is None:
            return
        self.state.select(key)
        frame = self.canvas.frame_at(pos.x())
        menu = self.clip_menu(key, frame)
        menu.exec(self.canvas.mapToGlobal(pos))
        menu.deleteLater()  # one menu per right-click: not kept as a child of the panel

    def selection_spec(self) -> object:
        """What a drag-out of the timeline carries: the in/out range when set, else all."""
        st = self.state
        if st.in_point is not None or st.out_point is not None:
            a = st.in_point or 0
            b = st.out_point if st.out_point is not None else st.duration
            return st.timeline_spec(st.range_items(a, b))
        return st.timeline_spec()

    def _drag_clip_out(self, key: int) -> None:
        """A clip dragged out of the canvas: a whole take drops the take's own file at once;
        a trimmed one is rendered (content-keyed: a second drag of it is instant)."""
        if self.exporter is None:
            return
        clip = self.state.clip(key)
        media = self.state.media(clip.take_id)
        if clip.in_frame == 0 and clip.out_frame >= media.num_frames:
            from idlora_studio.ui.drag_export import file_mime

            path = self.exporter.take_file(media, self.state.name)  # type: ignore[attr-defined]
            self.exporter.exec_drag(self.canvas, file_mime(path))  # type: ignore[attr-defined]
            return
        spec = self.state.timeline_spec([clip])
        self.exporter.start_drag(self.canvas, spec)  # type: ignore[attr-defined]

    def open_export_dialog(self) -> object:
        from pathlib import Path

        from idlora_studio.ui.export_dialog import ExportDialog

        if not self.state.clips or self._export_runner is None:
            return None
        dialog = ExportDialog(
            self.state.timeline_spec(),
            self._export_runner,  # type: ignore[arg-type]
            Path(str(self._exports_dir or ".")),
            frame_index=self.state.playhead,
            parent=self,
        )
        dialog.show()
        return dialog


def build_timeline(paths: object, library: object, window: QWidget) -> tuple[TimelinePanel, tuple]:
    """Create the timeline's services (runners, state, caches, player, drag exporter) around
    an open library and return the panel plus its runners (for shutdown; the first is the
    serial database runner the project's saves use). No project is loaded yet: the window's
    ``ProjectsState`` opens one."""
    from idlora_studio.library.jobs_repo import TakesRepository
    from idlora_studio.library.projects_repo import ProjectsRepository
    from idlora_studio.ui.drag_export import DragExporter
    from idlora_studio.workers.tasks import TaskRunner
    from idlora_studio.workers.timeline_media import MediaProcess

    db = TaskRunner(max_threads=1)
    media = TaskRunner(max_threads=2)
    render = TaskRunner(max_threads=1)
    background = TaskRunner(max_threads=1)  # drag-out renders kept up to date, idle priority
    state = ProjectState(
        ProjectsRepository.from_library(library), db, TakesRepository.from_library(library)
    )
    # thumbnails and waveforms are decoded in a process of their own (no GIL shared with the GUI)
    decoder = MediaProcess()
    cache = MediaCache(media, paths.thumbnails_dir, process=decoder)  # type: ignore[attr-defined]
    player = TimelinePlayer(state, cache)
    exporter = DragExporter(
        paths.drag_dir,  # type: ignore[attr-defined]
        render,
        background_runner=background,
    )
    panel = TimelinePanel(
        state,
        cache,
        player,
        exporter,
        export_runner=render,
        exports_dir=paths.exports_dir,  # type: ignore[attr-defined]
    )
    for obj in (db, media, render, background, state, cache, player, exporter):
        obj.setParent(panel)
    add_callback = getattr(window, "add_shutdown_callback", None)
    if add_callback is not None:  # a stale render must not hold the window's closing up
        add_callback(exporter.cancel_background)
        add_callback(decoder.close)
    return panel, (db, media, render, background)
