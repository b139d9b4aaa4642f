"""Export the timeline (or one take) to MP4, MOV/ProRes, WAV or PNG, with progress and cancel.

The render is ``engine.export.export_timeline`` on a ``TaskRunner`` thread; progress arrives
through a queued signal, Cancel sets the engine's ``CancelToken`` (the partial file is
removed by the engine). The dialog never blocks the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.workers.tasks import TaskRunner

FORMATS = {
    "mp4": "MP4 (H.264 + AAC)",
    "mov": "MOV (ProRes 422 + PCM, for editors)",
    "wav": "WAV (audio only)",
    "png": "PNG (the frame under the playhead)",
}
RESOLUTIONS = {"Source": None, "1080p": 1080, "720p": 720, "480p": 480}
QUALITIES = {"High": "high", "Medium": "medium", "Small": "small"}


class _Progress(QObject):
    value = Signal(float)


class ExportDialog(QDialog):
    """Settings, a progress bar and Cancel for one export of ``spec``."""

    exported = Signal(str)

    def __init__(
        self,
        spec: Any,
        runner: TaskRunner,
        out_dir: Path,
        *,
        frame_index: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(460)
        self.spec = spec
        self.runner = runner
        self.frame_index = frame_index
        self.result: Any = None
        self.error: str | None = None
        self._token: Any = None

        self.format = QComboBox()
        for key, text in FORMATS.items():
            self.format.addItem(text, key)
        self.resolution = QComboBox()
        for text, h in RESOLUTIONS.items():
            self.resolution.addItem(text if h is None else f"{text} ({self._size(h)[0]}×{h})", h)
        self.quality = QComboBox()
        for text, key in QUALITIES.items():
            self.quality.addItem(text, key)
        self.path = QLineEdit(str(Path(out_dir) / f"{self._stem()}.mp4"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Resolution", self.resolution)
        form.addRow("Quality", self.quality)
        form.addRow("File", row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel(
            f"{len(spec.clips)} clip(s), {spec.duration_s:.1f} s · labelled AI-generated, "
            "with a JSON sidecar of the recipes."
        )
        self.status.setObjectName("dimLabel")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.export_button.setObjectName("primaryButton")
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)

    def _stem(self) -> str:
        return "".join(ch for ch in (self.spec.title or "timeline") if ch.isalnum() or ch in "-_ ")

    def _size(self, height: int) -> tuple[int, int]:
        w = round(self.spec.width * height / max(1, self.spec.height))
        return w - w % 2, height

    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        path = Path(self.path.text())
        self.path.setText(str(path.with_suffix(f".{fmt}")))
        self.resolution.setEnabled(fmt != "wav")
        self.quality.setEnabled(fmt in ("mp4", "mov"))

    def _browse(self) -> None:
        fmt = self.format.currentData()
        name, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), f"*.{fmt}")
        if name:
            self.path.setText(name)

    @property
    def running(self) -> bool:
        return self._token is not None

    def start(self) -> None:
        """Run the export on the worker with the chosen settings."""
        from engine.api import CancelToken

        if self.running:
            return
        fmt = self.format.currentData()
        height = self.resolution.currentData()
        width = self._size(height)[0] if height else None
        quality = self.quality.currentData()
        out = Path(self.path.text())
        token = CancelToken()
        self._token = token
        self.error = None
        relay = _Progress(self)
        relay.value.connect(lambda v: self.progress.setValue(int(v * 1000)))
        spec, frame = self.spec, self.frame_index
        for w in (self.format, self.resolution, self.quality, self.path, self.export_button):
            w.setEnabled(False)
        self.status.setText("Exporting…")

        def work() -> Any:
            from engine.export import export_timeline

            out.parent.mkdir(parents=True, exist_ok=True)
            return export_timeline(
                spec,
                out,
                fmt,
                width=width,
                height=height,
                quality=quality,
                frame_index=frame if fmt == "png" else None,
                progress=relay.value.emit,
                cancel=token,
            )

        self.runner.submit(work, self._done, self._failed)

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _finish(self) -> None:
        self._token = None
        for w in (self.format, self.resolution, self.quality, self.path, self.export_button):
            w.setEnabled(True)
        self._format_changed()

    def _done(self, result: Any) -> None:
        self._finish()
        self.result = result
        self.progress.setValue(1000)
        self.status.setText(f"Exported to {result.path}")
        self.exported.emit(str(result.path))

    def _failed(self, exc: BaseException) -> None:
        from engine.api import Cancelled

        self._finish()
        self.progress.setValue(0)
        if isinstance(exc, Cancelled):
            self.error = "cancelled"
            self.status.setText("Export cancelled; nothing was written.")
        else:
            self.error = str(exc)
            self.status.setText(f"Export failed: {exc}")
