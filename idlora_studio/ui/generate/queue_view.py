"""The job queue as the user sees it: the jobs table (a progress bar per row), the actions on
the selected job, its failure sentence and, after a GPU out-of-memory, a one-click retry on the
lighter memory profile the worker suggested."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
)

from engine.memory import PROFILES
from idlora_studio.state.jobs import JobsTableModel, JobState


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


class QueueView(QGroupBox):
    """The queue table and the actions on its selected job (``queue``: a ``JobQueue``)."""

    def __init__(self, queue: Any) -> None:
        super().__init__("Queue")
        self.queue = queue
        jl = QVBoxLayout(self)
        self.jobs_model = JobsTableModel(queue, self)
        self.jobs_view = QTableView()
        self.jobs_view.setModel(self.jobs_model)
        self.jobs_view.setItemDelegateForColumn(2, ProgressDelegate(self.jobs_view))
        self.jobs_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jobs_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.jobs_view.verticalHeader().hide()
        self.jobs_view.setShowGrid(False)
        self.jobs_view.setAlternatingRowColors(False)
        header = self.jobs_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(2, 150)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.jobs_view.setMinimumHeight(150)
        self.jobs_view.selectionModel().selectionChanged.connect(self.update_buttons)
        self.jobs_model.modelReset.connect(self.update_buttons)
        jl.addWidget(self.jobs_view, 1)

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
        self.cancel_button.setEnabled(state in (JobState.QUEUED, JobState.RUNNING))
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
        lighter = job.suggested_profile if job is not None else None
        if state == JobState.FAILED and job.error_kind == "oom" and lighter:
            title = PROFILES[lighter].title if lighter in PROFILES else lighter
            self.lighter_button.setText(f"Retry with lighter profile ({title})")
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
