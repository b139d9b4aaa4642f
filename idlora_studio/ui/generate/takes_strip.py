"""The takes of the chosen identity: thumbnails with seed, length and voice match, sorted
newest first or best voice match first; Re-run and Vary.

Takes are read from the queue's ``takes_repo`` on a
:class:`~idlora_studio.workers.tasks.TaskRunner`, never on the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
)

from idlora_studio.state.jobs import format_voice_match, voice_match_tooltip
from idlora_studio.ui.generate.common import ID_ROLE, PATH_ROLE, dim, fmt_seconds
from idlora_studio.ui.thumbnails import ThumbnailCache, picture_icon
from idlora_studio.workers.tasks import TaskRunner

SORT_NEWEST = "Newest"
SORT_VOICE = "Best voice match"


def sort_takes(takes: list[Any], order: str) -> list[Any]:
    """Takes in the chosen order; unscored takes go last when sorting by voice match."""
    if order == SORT_VOICE:
        return sorted(takes, key=lambda t: (t.voice_match is None, -(t.voice_match or 0.0), -t.id))
    return list(takes)


class TakesStrip(QGroupBox):
    """Takes of one identity (``show_identity``); reloads when a job of the queue finishes.

    ``settings_requested(take)``: the user wants the form set to that take's recipe."""

    settings_requested = Signal(object)  # a TakeInfo

    def __init__(self, queue: Any, thumbnails: ThumbnailCache, runner: TaskRunner) -> None:
        super().__init__("Takes of this identity")
        self.queue = queue
        self.thumbnails = thumbnails
        self._runner = runner
        self._identity_id: int | None = None
        self._reload_due = False
        self._takes: list[Any] = []  # as shown (sorted)
        self._loaded: list[Any] = []  # as read: newest first
        tl = QVBoxLayout(self)
        self.takes_list = QListWidget()
        self.takes_list.setViewMode(QListView.ViewMode.IconMode)
        self.takes_list.setIconSize(QSize(96, 96))
        self.takes_list.setGridSize(QSize(136, 162))
        self.takes_list.setMovement(QListView.Movement.Static)
        self.takes_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.takes_list.setWordWrap(True)
        self.takes_list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.takes_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.takes_list.customContextMenuRequested.connect(self._context_menu)
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Queue the same recipe again (same seed)")
        self.vary_button = QPushButton("Vary (new seed)")
        self.vary_button.setToolTip("Queue the same recipe with a new random seed")
        self.rerun_button.clicked.connect(self._rerun)
        self.vary_button.clicked.connect(self._vary)
        self.takes_hint = dim("No takes yet.")
        self.takes_hint.setWordWrap(False)
        self.sort_combo = QComboBox()
        self.sort_combo.addItems([SORT_NEWEST, SORT_VOICE])
        self.sort_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.sort_combo.setMaximumWidth(170)
        self.sort_combo.setToolTip(
            "Sort the takes: newest first, or the takes whose voice sounds most like the "
            "reference clip first"
        )
        self.sort_combo.currentTextChanged.connect(lambda _t: self._show(self._loaded))
        tb = QHBoxLayout()
        tb.addWidget(self.takes_hint, 1)
        tb.addWidget(self.sort_combo)
        tb.addWidget(self.rerun_button)
        tb.addWidget(self.vary_button)
        tl.addWidget(self.takes_list, 1)
        tl.addLayout(tb)
        self._update_buttons()
        queue.job_finished.connect(lambda *_: self.reload())

    def show_identity(self, identity_id: int | None) -> None:
        self._identity_id = identity_id
        self.reload()

    def reload(self) -> None:
        """Read the identity's takes again. Calls in one pass of the event loop read once: a
        finished take asks twice (the queue's ``job_finished`` and the library's change
        feed), and every read is database work in the GUI's process."""
        if not self._reload_due:
            self._reload_due = True
            QTimer.singleShot(0, self._reload_now)

    def _reload_now(self) -> None:
        self._reload_due = False
        identity_id = self._identity_id
        repo = getattr(self.queue, "takes_repo", None)
        if repo is None or identity_id is None:
            self._show([])
            return

        def done(takes: list[Any]) -> None:
            if identity_id == self._identity_id:
                self._show(takes)

        self._runner.submit(lambda: repo.list_takes(identity_id), done, lambda exc: None)

    def _show(self, takes: list[Any]) -> None:
        self._loaded = list(takes)
        self._takes = sort_takes(self._loaded, self.sort_combo.currentText())
        current = self.selected_take()
        self.takes_list.clear()
        for t in self._takes:
            text = f"seed {t.seed}\n{fmt_seconds(t.duration_s)}"
            if t.voice_match is not None:
                text += f"\n{format_voice_match(t.voice_match)}"
            item = QListWidgetItem(text)
            item.setData(ID_ROLE, t.id)
            item.setData(PATH_ROLE, str(t.thumbnail_path or ""))
            item.setToolTip(
                f"{t.prompt_summary}\n{t.width}×{t.height}, {t.num_frames} frames, seed {t.seed}"
                f"\n\n{voice_match_tooltip(t.voice_match)}"
            )
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            pix = self.thumbnails.get(t.thumbnail_path) if t.thumbnail_path else None
            # a blank picture until the thumbnail is read (or for a take that has none):
            # without an icon the text sat at the top of an empty tile
            item.setIcon(picture_icon(pix) if pix is not None else self._blank())
            self.takes_list.addItem(item)
            if t.id == current:
                self.takes_list.setCurrentItem(item)
        self.takes_hint.setText(
            "No takes yet." if not self._takes else f"{len(self._takes)} take(s)"
        )
        self._update_buttons()

    def _blank(self) -> QIcon:
        pix = QPixmap(self.takes_list.iconSize())
        pix.fill(QColor("#262a33"))
        return QIcon(pix)

    def take_ids(self) -> list[int]:
        return [t.id for t in self._takes]

    def selected_take(self) -> int | None:
        item = self.takes_list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def thumbnail_ready(self, path: str) -> None:
        pix = self.thumbnails.cached(path)
        if pix is None:
            return
        for i in range(self.takes_list.count()):
            item = self.takes_list.item(i)
            if item.data(PATH_ROLE) == path:
                item.setIcon(picture_icon(pix))

    def take_menu(self, take_id: int) -> QMenu:
        """The right-click menu of a take: queue it again, vary it, reuse its settings."""
        menu = QMenu(self)
        take = next((t for t in self._takes if t.id == take_id), None)
        if take is None:
            return menu
        menu.addAction("Re-run (same seed)").triggered.connect(lambda: self.queue.rerun(take_id))
        menu.addAction("Vary (new seed)").triggered.connect(lambda: self.queue.vary(take_id))
        menu.addSeparator()
        menu.addAction("Use these settings").triggered.connect(
            lambda: self.settings_requested.emit(take)
        )
        menu.addAction("Copy prompt").triggered.connect(
            lambda: QApplication.clipboard().setText(take.request.full_prompt)
        )
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        item = self.takes_list.itemAt(pos)
        if item is None:
            return
        self.takes_list.setCurrentItem(item)
        self.take_menu(item.data(ID_ROLE)).exec(self.takes_list.viewport().mapToGlobal(pos))

    def _update_buttons(self) -> None:
        has = self.selected_take() is not None
        self.rerun_button.setEnabled(has)
        self.vary_button.setEnabled(has)

    def _rerun(self) -> None:
        take_id = self.selected_take()
        if take_id is not None:
            self.queue.rerun(take_id)

    def _vary(self) -> None:
        take_id = self.selected_take()
        if take_id is not None:
            self.queue.vary(take_id)
