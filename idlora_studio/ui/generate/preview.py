"""The live preview: the running job's low-res latent preview and a caption that names that
job and says what it is doing (the stage in words, the step, the time left, "Cancelling…"),
following the queue from one job to the next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGroupBox, QLabel, QSizePolicy, QVBoxLayout

from engine.api import stage_text
from idlora_studio.ui.generate.common import dim

IDLE_TEXT = "The running job's preview appears here"


class LivePreview(QGroupBox):
    """Follows the queue's running job (``job_started``, ``job_stage``, ``job_progress``,
    ``job_preview``, ``job_changed`` and the end signals). ``label(job_id)`` names a job in
    the caption (e.g. "Job 12 · Maya · seed 42")."""

    def __init__(self, queue: Any, label: Callable[[int], str] | None = None) -> None:
        super().__init__("Live preview")
        self.queue = queue
        self._label = label or (lambda job_id: f"Job {job_id}")
        self._image: QImage | None = None
        self._job: int | None = None  # the job the caption and picture are about
        pl = QVBoxLayout(self)
        self.preview_label = QLabel(IDLE_TEXT)
        self.preview_label.setObjectName("previewImage")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setWordWrap(True)  # the idle text fits a narrow laptop column
        self.preview_label.setMinimumSize(200, 120)
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview_label.setStyleSheet(
            "#previewImage { background: #111318; border-radius: 8px; color: #6b7184; }"
        )
        self.preview_caption = dim()
        pl.addWidget(self.preview_label, 1)
        pl.addWidget(self.preview_caption)
        if hasattr(queue, "job_started"):
            queue.job_started.connect(self._on_started)
            queue.job_stage.connect(self._on_stage)
        queue.job_preview.connect(self._on_preview)
        queue.job_progress.connect(self._on_progress)
        queue.job_changed.connect(self._on_changed)
        queue.job_finished.connect(
            lambda job_id, take_id: self._ended(job_id, f"finished: take {take_id}")
        )
        queue.job_failed.connect(lambda job_id, _kind, _msg: self._ended(job_id, "failed"))
        queue.job_cancelled.connect(lambda job_id: self._ended(job_id, "cancelled"))

    @property
    def job_id(self) -> int | None:
        """The job the preview is about (the running one, else the last one that ran)."""
        return self._job

    def _follow(self, job_id: int) -> bool:
        """Make ``job_id`` the shown job if it is the running one; True if it is shown."""
        if job_id != self._job and job_id == getattr(self.queue, "running_job", job_id):
            self._job = job_id
            self._image = None
            self.preview_label.setPixmap(QPixmap())
            self.preview_label.setText("Waiting for the first step…")
        return job_id == self._job

    def _say(self, job_id: int, text: str) -> None:
        self.preview_caption.setText(f"{self._label(job_id)} — {text}")

    def _cancelling(self, job_id: int) -> bool:
        check = getattr(self.queue, "is_cancelling", None)
        return bool(check and check(job_id))

    def _on_started(self, job_id: int) -> None:
        if self._follow(job_id):
            self._say(job_id, "starting…")

    def _on_stage(self, job_id: int, stage: str) -> None:
        if self._follow(job_id) and not self._cancelling(job_id) and stage != "denoise":
            self._say(job_id, f"{stage_text(stage)}…")

    def _on_progress(self, job_id: int, step: int, total: int, eta: float) -> None:
        if not self._follow(job_id) or self._cancelling(job_id):
            return
        left = f", about {int(eta) // 60}:{int(eta) % 60:02d} left" if eta >= 0 else ""
        self._say(job_id, f"{stage_text('denoise')} step {step} of {total}{left}")

    def _on_changed(self, job_id: int) -> None:
        if job_id == self._job and self._cancelling(job_id):
            self._say(job_id, "Cancelling…")

    def _on_preview(self, job_id: int, image: QImage) -> None:
        if self._follow(job_id):
            self._image = image
            self.show_preview()

    def _ended(self, job_id: int, text: str) -> None:
        if job_id == self._job:
            self._say(job_id, text)

    def show_preview(self) -> None:
        """Draw the current preview at the label's size (call after a resize)."""
        if self._image is None or self._image.isNull():
            return
        pix = QPixmap.fromImage(self._image).scaled(
            self.preview_label.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview_label.setPixmap(pix)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.show_preview()
