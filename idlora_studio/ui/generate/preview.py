"""The live preview: the running job's low-res latent preview and a caption naming the job."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGroupBox, QLabel, QSizePolicy, QVBoxLayout

from idlora_studio.ui.generate.common import dim


class LivePreview(QGroupBox):
    """Follows the queue's ``job_preview`` / ``job_progress`` / ``job_finished`` signals."""

    def __init__(self, queue: Any) -> None:
        super().__init__("Live preview")
        self._previews: dict[int, QImage] = {}
        self._preview_job: int | None = None
        pl = QVBoxLayout(self)
        self.preview_label = QLabel("The running job's preview appears here")
        self.preview_label.setObjectName("previewImage")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(240, 180)
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview_label.setStyleSheet(
            "#previewImage { background: #111318; border-radius: 8px; color: #6b7184; }"
        )
        self.preview_caption = dim()
        pl.addWidget(self.preview_label, 1)
        pl.addWidget(self.preview_caption)
        queue.job_preview.connect(self._on_preview)
        queue.job_progress.connect(self._on_progress)
        queue.job_finished.connect(self._on_job_finished)

    def _on_progress(self, job_id: int, step: int, total: int, eta: float) -> None:
        if self._preview_job not in (None, job_id):
            return
        left = f", about {int(eta) // 60}:{int(eta) % 60:02d} left" if eta >= 0 else ""
        self.preview_caption.setText(f"Job {job_id}: step {step} of {total}{left}")

    def _on_preview(self, job_id: int, image: QImage) -> None:
        self._previews = {job_id: image}
        self._preview_job = job_id
        self.show_preview()

    def show_preview(self) -> None:
        """Draw the current preview at the label's size (call after a resize)."""
        image = self._previews.get(self._preview_job or -1)
        if image is None or image.isNull():
            return
        pix = QPixmap.fromImage(image).scaled(
            self.preview_label.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview_label.setPixmap(pix)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.show_preview()

    def _on_job_finished(self, job_id: int, take_id: int) -> None:
        if self._preview_job == job_id:
            self.preview_caption.setText(f"Job {job_id} finished: take {take_id}")
            self._preview_job = None
