"""The job queue as the user sees it: one row per job naming the take (identity thumbnail and
name, Speech line; seed, size, length, preset) with its stage in words over a progress bar;
the actions on the selected job (buttons and a right-click menu); its failure sentence and,
after a GPU out-of-memory, a one-click retry on the lighter memory profile the worker
suggested."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QPainter, QPainterPath, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
)

from engine.api import InvalidRequestError
from engine.generate import resolve_frames
from engine.memory import PROFILES
from idlora_studio.library.jobs_repo import JobInfo
from idlora_studio.state.jobs import JobsTableModel, JobState
from idlora_studio.ui.generate.common import fmt_seconds
from idlora_studio.ui.generate.presets import preset_title, preset_upscale
from idlora_studio.ui.thumbnails import ThumbnailCache

ROW_HEIGHT = 52
THUMB = 40


def job_details(job: JobInfo) -> list[str]:
    """What a queue row says about a take besides who and what is said: seed, size, length,
    preset (most telling first). Append here to show more, and check it still fits at
    1366x768 (tests/app/test_window_fits.py)."""
    req = job.request
    up = preset_upscale(req.pipeline)  # a 2x pipeline's take is twice the requested size
    size = f"{req.width * up}×{req.height * up}" if req.width and req.height else "auto size"
    try:
        frames, _ = resolve_frames(req)
        length = fmt_seconds(frames / req.fps)
    except InvalidRequestError:
        length = "? s"
    return [f"seed {req.seed}", size, length, preset_title(req.pipeline, short=True)]


def lighter_retry_text(job: JobInfo) -> str:
    """ "Retry with lighter profile (…)" after a GPU out-of-memory with a suggestion; else ""."""
    lighter = job.suggested_profile
    if job.state != JobState.FAILED or job.error_kind != "oom" or not lighter:
        return ""
    title = PROFILES[lighter].title if lighter in PROFILES else lighter
    return f"Retry with lighter profile ({title})"


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar (fraction from ``JobsTableModel.FractionRole``)."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        fraction = index.data(JobsTableModel.FractionRole)
        if fraction is None:
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(option.rect).adjusted(6, 7, -6, -7)  # type: ignore[attr-defined]
        path = QPainterPath()
        path.addRoundedRect(r, 4, 4)
        painter.fillPath(path, QColor("#2a2e38"))
        f = max(0.0, min(1.0, float(fraction)))
        if f > 0:
            chunk = QPainterPath()
            chunk.addRoundedRect(QRectF(r.left(), r.top(), r.width() * f, r.height()), 4, 4)
            painter.fillPath(chunk, QColor("#6c8cff"))
        painter.setPen(QColor("#e8eaf0"))
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, index.data() or "")
        painter.restore()


class TakeDelegate(QStyledItemDelegate):
    """The take column: identity thumbnail, the identity's name and Speech line, and a dim
    line with :func:`job_details`."""

    def __init__(self, view: QueueView) -> None:
        super().__init__(view.jobs_view)
        self._view = view

    def sizeHint(  # noqa: N802
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(240, ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # type: ignore[attr-defined]
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        job_id = index.data(JobsTableModel.JobIdRole)
        title, details = self._view.row_texts(job_id)
        rect: QRect = opt.rect  # type: ignore[attr-defined]
        painter.save()
        thumb = QRect(rect.left() + 6, rect.top() + (rect.height() - THUMB) // 2, THUMB, THUMB)
        pix = self._view.row_thumbnail(job_id)
        if pix is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(thumb, pix)
        else:
            painter.fillRect(thumb, QColor("#2a2e38"))
        text = rect.adjusted(THUMB + 14, 6, -6, -6)
        palette: QPalette = opt.palette  # type: ignore[attr-defined]
        fm = painter.fontMetrics()
        half = text.height() // 2
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(
            QRect(text.left(), text.top(), text.width(), half),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(title, Qt.TextElideMode.ElideRight, text.width()),
        )
        painter.setPen(QColor("#8b92a5"))
        painter.drawText(
            QRect(text.left(), text.top() + half, text.width(), text.height() - half),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(details, Qt.TextElideMode.ElideRight, text.width()),
        )
        painter.restore()


class QueueView(QGroupBox):
    """The queue table and the actions on its selected job (``queue``: a ``JobQueue``;
    ``state``: the ``LibraryState`` naming identities; ``thumbnails`` for their pictures).

    ``settings_requested(job_id)``: the user wants the form set to that job's settings."""

    settings_requested = Signal(int)

    def __init__(self, queue: Any, state: Any, thumbnails: ThumbnailCache) -> None:
        super().__init__("Queue")
        self.queue = queue
        self.state = state
        self.thumbnails = thumbnails
        jl = QVBoxLayout(self)
        jl.addWidget(self._build_resume_bar())
        self.jobs_model = JobsTableModel(queue, self)
        self.jobs_view = QTableView()
        self.jobs_view.setModel(self.jobs_model)
        self.jobs_view.setItemDelegateForColumn(JobsTableModel.TAKE, TakeDelegate(self))
        self.jobs_view.setItemDelegateForColumn(
            JobsTableModel.PROGRESS, ProgressDelegate(self.jobs_view)
        )
        self.jobs_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jobs_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.jobs_view.verticalHeader().hide()
        self.jobs_view.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.jobs_view.setShowGrid(False)
        self.jobs_view.setAlternatingRowColors(False)
        self.jobs_view.setWordWrap(False)
        header = self.jobs_view.horizontalHeader()
        header.setSectionResizeMode(JobsTableModel.TAKE, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(JobsTableModel.PROGRESS, 160)
        for column in (JobsTableModel.TIME_LEFT, JobsTableModel.VOICE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Three rows and the header stay visible however small the page gets.
        self.jobs_view.setMinimumHeight(3 * ROW_HEIGHT + header.sizeHint().height() + 4)
        self.jobs_view.selectionModel().selectionChanged.connect(self.update_buttons)
        self.jobs_model.modelReset.connect(self.update_buttons)
        self.jobs_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.jobs_view.customContextMenuRequested.connect(self._context_menu)
        jl.addWidget(self.jobs_view, 1)
        thumbnails.ready.connect(lambda _path: self.jobs_view.viewport().update())

        self.cancel_button = QPushButton("Cancel")
        self.retry_button = QPushButton("Retry")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("dangerButton")
        self.cancel_button.clicked.connect(lambda: self._act(self.queue.cancel))
        self.retry_button.clicked.connect(lambda: self._act(self.queue.retry))
        self.up_button.clicked.connect(lambda: self._act(lambda j: self.queue.move(j, -1)))
        self.down_button.clicked.connect(lambda: self._act(lambda j: self.queue.move(j, 1)))
        self.remove_button.clicked.connect(lambda: self._act(self.queue.remove))
        buttons = QHBoxLayout()
        for b in (
            self.cancel_button,
            self.retry_button,
            self.up_button,
            self.down_button,
            self.remove_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        jl.addLayout(buttons)

        self.failure_label = QLabel()
        self.failure_label.setObjectName("warningLabel")
        self.failure_label.setWordWrap(True)
        self.failure_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lighter_button = QPushButton()
        self.lighter_button.setObjectName("primaryButton")
        self.lighter_button.clicked.connect(self._retry_lighter)
        fail_row = QHBoxLayout()
        fail_row.addWidget(self.failure_label, 1)
        fail_row.addWidget(self.lighter_button, 0, Qt.AlignmentFlag.AlignTop)
        self.failure_label.hide()
        self.lighter_button.hide()
        jl.addLayout(fail_row)

        queue.job_failed.connect(self._on_job_failed)
        queue.job_changed.connect(self._on_job_changed)
        queue.queue_changed.connect(self.update_buttons)
        if hasattr(queue, "paused_changed"):
            queue.paused_changed.connect(self._update_resume_bar)
            self._update_resume_bar()

    # ------------------------------------------------------------------ left from last time
    def _build_resume_bar(self) -> QFrame:
        self.resume_bar = QFrame()
        self.resume_bar.setObjectName("resumeBar")
        row = QHBoxLayout(self.resume_bar)
        row.setContentsMargins(10, 6, 6, 6)
        self.resume_label = QLabel()
        self.resume_label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("primaryButton")
        self.resume_button.setToolTip("Run them now, in their order")
        self.discard_button = QPushButton("Don't resume")
        self.discard_button.setToolTip("Cancel them; each can still be retried from its row's menu")
        self.resume_button.clicked.connect(lambda: self.queue.resume_pending())
        self.discard_button.clicked.connect(lambda: self.queue.discard_pending())
        row.addWidget(self.resume_label, 1)
        row.addWidget(self.resume_button)
        row.addWidget(self.discard_button)
        self.resume_bar.hide()
        return self.resume_bar

    def _update_resume_bar(self, *_: Any) -> None:
        paused = bool(getattr(self.queue, "paused", False))
        n = len(getattr(self.queue, "pending", []))
        if paused:
            were = "take was" if n == 1 else "takes were"
            self.resume_label.setText(
                f"{n} {were} waiting or running when the Studio last closed. The queue is "
                "paused until you choose."
            )
        self.resume_bar.setVisible(paused)

    # ------------------------------------------------------------------ rows
    def row_texts(self, job_id: int) -> tuple[str, str]:
        """The two lines a row shows: who and what is said (the identity's name first, so a
        long Speech line is what gets cut); then :func:`job_details`, short enough to show in
        full in a laptop-sized queue."""
        job = self.queue.job(job_id)
        if job is None:
            return "", ""
        title = job.prompt_summary
        if job.identity_id is not None:
            summary = self.state.summary(job.identity_id)
            name = summary.name if summary is not None else "(identity removed)"
            title = f"{name} · {title}" if title else name
        return title, " · ".join(job_details(job))

    def job_label(self, job_id: int) -> str:
        """A short name for a job: "Job 12 · Maya · seed 42"."""
        job = self.queue.job(job_id)
        if job is None:
            return f"Job {job_id}"
        parts = [f"Job {job_id}"]
        if job.identity_id is not None and (summary := self.state.summary(job.identity_id)):
            parts.append(summary.name)
        parts.append(f"seed {job.request.seed}")
        return " · ".join(parts)

    def row_thumbnail(self, job_id: int) -> Any:
        """The identity's thumbnail (a ``QPixmap``) for a row, or None (not loaded yet)."""
        job = self.queue.job(job_id)
        if job is None or job.identity_id is None:
            return None
        summary = self.state.summary(job.identity_id)
        if summary is None or summary.thumbnail_path is None:
            return None
        return self.thumbnails.get(summary.thumbnail_path)

    def row_menu(self, job_id: int) -> QMenu:
        """The right-click menu of a row: what can be done with that job now."""
        menu = QMenu(self)
        job = self.queue.job(job_id)
        if job is None:
            return menu
        state = job.state
        queued = self.queue.queued() if hasattr(self.queue, "queued") else []

        def add(text: str, fn: Callable[[], Any], enabled: bool = True) -> QAction:
            action = menu.addAction(text)
            action.triggered.connect(fn)
            action.setEnabled(enabled)
            return action

        if state in (JobState.QUEUED, JobState.RUNNING):
            cancelling = self.queue.is_cancelling(job_id)
            add(
                "Cancelling…" if cancelling else "Cancel",
                lambda: self.queue.cancel(job_id),
                not cancelling,
            )
        if job.retryable:
            add("Retry", lambda: self.queue.retry(job_id))
            if lighter := lighter_retry_text(job):
                add(
                    lighter,
                    lambda: self.queue.retry(job_id, lighter=True),
                )
        if state == JobState.QUEUED:
            first, last = queued[:1] == [job_id], queued[-1:] == [job_id]
            add("Move to the top", lambda: self.queue.move(job_id, -len(queued)), not first)
            add("Move up", lambda: self.queue.move(job_id, -1), not first)
            add("Move down", lambda: self.queue.move(job_id, 1), not last)
        menu.addSeparator()
        add("Use these settings", lambda: self.settings_requested.emit(job_id))
        add("Copy prompt", lambda: QApplication.clipboard().setText(job.request.full_prompt))
        menu.addSeparator()
        add("Remove", lambda: self.queue.remove(job_id), state != JobState.RUNNING)
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        index = self.jobs_view.indexAt(pos)
        if not index.isValid():
            return
        job_id = index.data(JobsTableModel.JobIdRole)
        self.jobs_view.selectRow(index.row())
        self.row_menu(job_id).exec(self.jobs_view.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ selection
    def selected_job(self) -> int | None:
        rows = self.jobs_view.selectionModel().selectedRows()
        if not rows:
            return None
        return rows[0].data(JobsTableModel.JobIdRole)

    def select_job(self, job_id: int) -> None:
        for row in range(self.jobs_model.rowCount()):
            if self.jobs_model.job_id(row) == job_id:
                self.jobs_view.selectRow(row)
                return

    def _act(self, fn: Callable[[int], Any]) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            fn(job_id)

    # ------------------------------------------------------------------ showing
    def update_buttons(self, *_: Any) -> None:
        job_id = self.selected_job()
        job = self.queue.job(job_id) if job_id is not None else None
        state = job.state if job is not None else None
        cancelling = job is not None and self.queue.is_cancelling(job.id)
        self.cancel_button.setEnabled(
            state in (JobState.QUEUED, JobState.RUNNING) and not cancelling
        )
        self.cancel_button.setText("Cancelling…" if cancelling else "Cancel")
        self.retry_button.setEnabled(job is not None and job.retryable)
        queued = self.queue.queued() if hasattr(self.queue, "queued") else []
        self.up_button.setEnabled(state == JobState.QUEUED and queued[:1] != [job_id])
        self.down_button.setEnabled(state == JobState.QUEUED and queued[-1:] != [job_id])
        self.remove_button.setEnabled(job is not None and state != JobState.RUNNING)
        if job is not None and state in (JobState.FAILED, JobState.INTERRUPTED) and job.error:
            self.failure_label.setText(job.error)
            self.failure_label.show()
        else:
            self.failure_label.hide()
        lighter = lighter_retry_text(job) if job is not None else ""
        if lighter:
            self.lighter_button.setText(lighter)
            self.lighter_button.show()
        else:
            self.lighter_button.hide()

    def _retry_lighter(self) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.queue.retry(job_id, lighter=True)

    def _on_job_changed(self, job_id: int) -> None:
        if job_id == self.selected_job():
            self.update_buttons()

    def _on_job_failed(self, job_id: int, kind: str, message: str) -> None:
        self.select_job(job_id)  # the sentence (and the retry) right in view
        self.update_buttons()
