"""The model manager window: model sets, their status on disk, download, verify, files on disk,
and "Check this machine".

One card per model set of the registry (:data:`engine.models.registry.MODEL_SETS`): status
(missing / partial / installed / verified), bytes on disk against the total, free disk, the VRAM
each memory profile needs, and the actions. Downloads run :class:`engine.models.download.Downloader`
on a :class:`~idlora_studio.workers.tasks.TaskRunner` pool thread; its progress callback reaches
the card through a queued signal (bar, speed, time left, current file). Cancel keeps the partial
file; clicking Download again resumes it. The downloader checks the free disk before it fetches a
byte and its :class:`~engine.api.DiskFullError` sentence is shown on the card.

"Use files on disk…" points a set at a diffusers folder, or a single-file checkpoint plus its base
folder, and an ID-LoRA file; optionally the spatial upsampler and the distilled LoRA (the
two-stage / HQ / fast pipelines). The choice is checked on a worker thread by structure only (the
folder's ``model_index.json`` and component sub-folders, the safetensors header of a file; no
weights are loaded) and remembered in ``<config_dir>/model_sources.json``
(:class:`engine.models.local_sources.LocalSources`). Each card says which pipelines the set can
run and what the others lack.

"Check this machine" runs :func:`idlora_studio.selftest.run_self_test` on a worker and shows the
report. Nothing here blocks the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.api import Cancelled, CancelToken, EngineError
from engine.memory import PROFILE_ORDER, PROFILES
from engine.models import registry
from engine.models.local_sources import (
    SOURCES_FILE,
    LocalSource,
    LocalSourceError,
    LocalSources,
    describe_pipelines,
    set_pipelines,
    validate_local_source,
)
from idlora_studio.workers.tasks import TaskRunner

__all__ = ["SOURCES_FILE", "LocalSource", "LocalSourceError", "LocalSources", "ModelManager"]

_BADGE = {
    "missing": ("Not installed", "#9aa1b2"),
    "partial": ("Partly downloaded", "#e5a84b"),
    "present": ("Installed", "#6c8cff"),
    "verified": ("Installed · verified", "#4cc38a"),
}


def _gb(n: float) -> str:
    if n >= 1e8:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60}:{s % 60:02d}"


# ============================================================================ files on disk


# ============================================================================ worker relay


class _Relay(QObject):
    """Carries progress from a pool thread to the GUI thread (queued signals)."""

    progress = Signal(object)


@dataclass(frozen=True)
class SetOverview:
    """What a card shows, computed on a worker: status and the free disk."""

    status: registry.SetStatus
    free_bytes: int
    pipelines: dict[str, list[str]] = field(default_factory=dict)


# ============================================================================ widgets


class LocalSourceDialog(QDialog):
    """Choose a diffusers folder, or a single-file checkpoint + base folder, and an ID-LoRA."""

    def __init__(
        self, title: str, current: LocalSource | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Use files on disk — {title}")
        self.setMinimumWidth(560)
        self.folder_radio = QRadioButton("Diffusers folder (model_index.json + sub-folders)")
        self.file_radio = QRadioButton("Single-file checkpoint (.safetensors) + base folder")
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.file_radio)
        self.model_edit = QLineEdit()
        self.base_edit = QLineEdit()
        self.lora_edit = QLineEdit()
        self.upsampler_edit = QLineEdit()
        self.upsampler_edit.setPlaceholderText("optional: two-stage and HQ")
        self.distilled_edit = QLineEdit()
        self.distilled_edit.setPlaceholderText("optional: two-stage, HQ and fast")
        form = QFormLayout()
        form.addRow(self.folder_radio)
        form.addRow(self.file_radio)
        form.addRow("Model", self._with_browse(self.model_edit, self._browse_model))
        self.base_row = self._with_browse(self.base_edit, self._browse_base)
        form.addRow("Base folder", self.base_row)
        form.addRow("ID-LoRA", self._with_browse(self.lora_edit, self._browse_lora))
        form.addRow(
            "Spatial upsampler", self._with_browse(self.upsampler_edit, self._browse_upsampler)
        )
        form.addRow(
            "Distilled LoRA", self._with_browse(self.distilled_edit, self._browse_distilled)
        )
        hint = QLabel(
            "Files stay where they are; the Studio only remembers where. They are checked by "
            "structure (folders, safetensors headers) before they are used."
        )
        hint.setObjectName("dimLabel")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(hint)
        lay.addWidget(buttons)
        if current is not None:
            (self.file_radio if current.kind == "single-file" else self.folder_radio).setChecked(
                True
            )
            self.model_edit.setText(str(current.model))
            self.base_edit.setText(str(current.base or ""))
            self.lora_edit.setText(str(current.lora or ""))
            self.upsampler_edit.setText(str(current.upsampler or ""))
            self.distilled_edit.setText(str(current.distilled_lora or ""))
        else:
            self.folder_radio.setChecked(True)
        self.folder_radio.toggled.connect(self._kind_changed)
        self._kind_changed()

    @staticmethod
    def _with_browse(edit: QLineEdit, fn: Callable[[], None]) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(fn)
        row.addWidget(b)
        return w

    def _kind_changed(self) -> None:
        self.base_row.setEnabled(self.file_radio.isChecked())

    @property
    def kind(self) -> str:
        return "single-file" if self.file_radio.isChecked() else "diffusers-folder"

    def _browse_model(self) -> None:
        if self.kind == "single-file":
            path, _ = QFileDialog.getOpenFileName(
                self, "Checkpoint", "", "safetensors (*.safetensors)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, "Diffusers folder")
        if path:
            self.model_edit.setText(path)

    def _browse_base(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Base diffusers folder")
        if path:
            self.base_edit.setText(path)

    def _browse_lora(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "ID-LoRA", "", "safetensors (*.safetensors)")
        if path:
            self.lora_edit.setText(path)

    def _browse_upsampler(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Spatial upsampler", "", "safetensors (*.safetensors)"
        )
        if path:
            self.upsampler_edit.setText(path)

    def _browse_distilled(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Distilled LoRA", "", "safetensors (*.safetensors)"
        )
        if path:
            self.distilled_edit.setText(path)

    def values(self) -> tuple[str, Path, Path | None, Path | None]:
        """(kind, model, base, ID-LoRA); the optional parts are in :meth:`parts`."""

        base = _opt_path(self.base_edit) if self.kind == "single-file" else None
        return (
            self.kind,
            Path(self.model_edit.text().strip()),
            base,
            _opt_path(self.lora_edit),
        )

    def parts(self) -> tuple[Path | None, Path | None]:
        """(spatial upsampler, distilled LoRA) as typed (None when empty)."""
        return _opt_path(self.upsampler_edit), _opt_path(self.distilled_edit)


def _opt_path(edit: QLineEdit) -> Path | None:
    t = edit.text().strip()
    return Path(t) if t else None


class ModelSetCard(QFrame):
    """One model set: status, sizes, VRAM per profile, download/verify/files-on-disk actions."""

    download_requested = Signal(str)
    cancel_requested = Signal(str)
    verify_requested = Signal(str)
    local_requested = Signal(str)
    forget_local_requested = Signal(str)

    def __init__(self, model_set: registry.ModelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_set = model_set
        self.setObjectName("modelCard")
        self.setStyleSheet(
            "#modelCard { background: #20232b; border: 1px solid #2a2e37; border-radius: 10px; }"
            "#modelCard QLabel { background: transparent; }"
        )
        ms = model_set
        self.title = QLabel(f"<b>{ms.title}</b>")
        self.title.setStyleSheet("font-size: 12pt;")
        self.badge = QLabel()
        self.description = QLabel(ms.description)
        self.description.setObjectName("dimLabel")
        self.description.setWordWrap(True)
        self.size_label = QLabel()
        self.size_label.setWordWrap(True)
        self.vram_label = QLabel(self._vram_text())
        self.vram_label.setObjectName("dimLabel")
        self.vram_label.setWordWrap(True)
        self.vram_label.setToolTip(
            "Estimated peak GPU memory of one 512×512, 121-frame generation per memory profile "
            "(estimates from parameter counts)."
        )
        self.local_label = QLabel()
        self.local_label.setWordWrap(True)
        self.local_label.hide()
        self.pipelines_label = QLabel()
        self.pipelines_label.setObjectName("dimLabel")
        self.pipelines_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.progress.hide()
        self.progress_label = QLabel()
        self.progress_label.setObjectName("dimLabel")
        self.progress_label.hide()
        self.message = QLabel()
        self.message.setObjectName("warningLabel")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.cancel_button = QPushButton("Cancel")
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Re-hash the files on disk against their checksums")
        self.local_button = QPushButton("Use files on disk…")
        self.forget_button = QPushButton("Forget files on disk")
        self.forget_button.hide()
        self.cancel_button.hide()
        sid = ms.id
        self.download_button.clicked.connect(lambda: self.download_requested.emit(sid))
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(sid))
        self.verify_button.clicked.connect(lambda: self.verify_requested.emit(sid))
        self.local_button.clicked.connect(lambda: self.local_requested.emit(sid))
        self.forget_button.clicked.connect(lambda: self.forget_local_requested.emit(sid))

        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.badge)
        buttons = QHBoxLayout()
        for b in (
            self.download_button,
            self.cancel_button,
            self.verify_button,
            self.local_button,
            self.forget_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(6)
        lay.addLayout(head)
        lay.addWidget(self.description)
        lay.addWidget(self.size_label)
        lay.addWidget(self.vram_label)
        lay.addWidget(self.local_label)
        lay.addWidget(self.pipelines_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.message)
        if ms.builtin:
            for b in (self.download_button, self.verify_button, self.local_button):
                b.hide()
        else:
            lay.addLayout(buttons)
        self.state: str = "missing"
        self.busy = False

    def _vram_text(self) -> str:
        ms = self.model_set
        if ms.builtin or not ms.vram_needs:
            return "Runs anywhere (tiny)."
        parts = [
            f"{PROFILES[n].title} {ms.vram_needs[n]:.0f} GiB"
            for n in PROFILE_ORDER
            if n in ms.vram_needs
        ]
        return "VRAM: " + " · ".join(parts)

    def show_overview(self, ov: SetOverview, local: LocalSource | None) -> None:
        ms = self.model_set
        st = ov.status
        self.state = str(st.state)
        text, color = _BADGE.get(self.state, (self.state, "#9aa1b2"))
        if ms.builtin:
            text, color = "Built in", "#4cc38a"
        self.badge.setText(text)
        self.badge.setStyleSheet(
            f"color: {color}; border: 1px solid {color}; border-radius: 9px; padding: 2px 10px;"
        )
        if ms.builtin:
            self.size_label.setText("Built on this machine when first used (a few MB).")
        else:
            left = max(ms.total_bytes - st.bytes_present, 0)
            have = (
                f"{_gb(st.bytes_present)} of about {_gb(ms.total_bytes)} on disk"
                if st.bytes_present
                else f"Nothing on disk yet; about {_gb(ms.total_bytes)} in all"
            )
            text = (
                f"{have} ({_gb(ms.required_bytes)} needed for one-stage) · "
                f"{_gb(ov.free_bytes)} free"
            )
            if left and ov.free_bytes < left:
                text += (
                    f" — <span style='color:#e5534b'>not enough free disk for the "
                    f"{_gb(left)} still to download</span>"
                )
            if ms.gated:
                text += " · gated: accept the licence on the hub and sign in"
            self.size_label.setText(text)
        self.pipelines_label.setText(
            "Pipelines: " + describe_pipelines(ov.pipelines) if ov.pipelines else ""
        )
        if local is not None:
            lora = f"; ID-LoRA {local.lora}" if local.lora else ""
            base = f" (base {local.base})" if local.base else ""
            extra = "".join(
                f"; {label} {path}"
                for label, path in (
                    ("upsampler", local.upsampler),
                    ("distilled LoRA", local.distilled_lora),
                )
                if path
            )
            self.local_label.setText(f"Using files on disk: {local.model}{base}{lora}{extra}")
            self.local_label.show()
            self.forget_button.show()
        else:
            self.local_label.hide()
            self.forget_button.hide()
        partial = self.state == "partial"
        self.download_button.setText("Resume download" if partial else "Download")
        done = self.state in ("present", "verified")
        self.download_button.setEnabled(not self.busy and not done)
        self.download_button.setToolTip("Already downloaded" if done else "")
        self.verify_button.setEnabled(not self.busy and st.bytes_present > 0)

    def set_busy(self, busy: bool, cancellable: bool = False) -> None:
        self.busy = busy
        self.download_button.setEnabled(not busy)
        self.verify_button.setEnabled(not busy)
        self.cancel_button.setVisible(busy and cancellable)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(busy)
        self.progress_label.setVisible(busy)

    def show_message(self, text: str, ok: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #4cc38a;" if ok else "")
        self.message.setVisible(bool(text))

    def show_progress(self, p: Any) -> None:
        self.progress.setValue(int(round(p.fraction * 1000)))
        name = p.current_file.rsplit("/", 1)[-1] if p.current_file else ""
        if p.phase == "verifying":
            what = f"verifying {name}"
        elif p.phase == "checking":
            what = "checking what to fetch"
        else:
            what = f"file {p.file_index}/{p.file_count}: {name}" if name else "downloading"
        speed = f"{p.speed_bps / 1e6:.1f} MB/s" if p.speed_bps > 0 else "—"
        self.progress_label.setText(
            f"{_gb(p.bytes_done)} of {_gb(p.bytes_total)} · {speed} · "
            f"{_fmt_eta(p.eta_s)} left · {what}"
        )


class ModelManager(QDialog):
    """Non-modal window listing the model sets; see the module docstring.

    ``downloader_factory`` returns an object with ``download_set`` (default
    ``engine.models.download.Downloader()``); ``self_test`` is called as
    ``self_test(paths, progress)`` on a worker (default ``selftest.run_self_test``).
    """

    models_changed = Signal()  # something on disk (or a files-on-disk choice) changed

    def __init__(
        self,
        paths: Any,
        settings: Any = None,
        *,
        sets: Sequence[registry.ModelSet] | None = None,
        models_dir: Path | None = None,
        endpoint: str | None = None,
        downloader_factory: Callable[[], Any] | None = None,
        self_test: Callable[..., Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models — ID-LoRA Studio")
        self.setObjectName("modelManager")
        self.resize(900, 760)
        self.paths = paths
        self.settings = settings
        self._sets = list(sets if sets is not None else registry.MODEL_SETS.values())
        custom = ""
        if settings is not None:
            try:
                custom = str(settings.get("models_dir") or "")
            except (AttributeError, KeyError):
                custom = ""
        self.models_dir = Path(models_dir or custom or paths.models_dir)
        self.endpoint = endpoint
        self._downloader_factory = downloader_factory
        self._self_test = self_test
        self.local = LocalSources.load(paths.config_dir)
        self._runner = TaskRunner(max_threads=3, parent=self)
        self._status_runner = TaskRunner(max_threads=1, parent=self)
        self._tokens: dict[str, CancelToken] = {}
        self._relays: dict[str, _Relay] = {}
        self.cards: dict[str, ModelSetCard] = {}
        self.last_report: Any = None

        header = QLabel("Model sets")
        header.setObjectName("panelTitle")
        where = QLabel(f"Models folder: {self.models_dir}")
        where.setObjectName("dimLabel")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body = QWidget()
        body.setObjectName("editorBody")
        bl = QVBoxLayout(body)
        bl.setContentsMargins(4, 4, 12, 4)
        bl.setSpacing(10)
        for ms in self._sets:
            card = ModelSetCard(ms)
            card.download_requested.connect(self.start_download)
            card.cancel_requested.connect(self.cancel_download)
            card.verify_requested.connect(self.verify)
            card.local_requested.connect(self._choose_local)
            card.forget_local_requested.connect(self.forget_local)
            self.cards[ms.id] = card
            bl.addWidget(card)
        bl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)

        machine = QGroupBox("This machine")
        ml = QVBoxLayout(machine)
        self.check_button = QPushButton("Check this machine")
        self.check_button.setToolTip(
            "GPU, free disk, versions, and one whole generation on the built-in tiny model"
        )
        self.check_button.clicked.connect(self.run_self_test)
        self.check_status = QLabel("Runs the self-test (a few seconds).")
        self.check_status.setObjectName("dimLabel")
        row = QHBoxLayout()
        row.addWidget(self.check_button)
        row.addWidget(self.check_status, 1)
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setFixedHeight(130)
        self.report_view.hide()
        ml.addLayout(row)
        ml.addWidget(self.report_view)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 14, 16, 14)
        lay.addWidget(header)
        lay.addWidget(where)
        lay.addWidget(scroll, 1)
        lay.addWidget(machine)
        self.refresh()

    # ------------------------------------------------------------------ status
    def model_set(self, set_id: str) -> registry.ModelSet:
        return next(ms for ms in self._sets if ms.id == set_id)

    def refresh(self, set_ids: Sequence[str] | None = None) -> None:
        """Re-read the status of the sets (stat calls on a worker) and update their cards."""
        from engine.fsutil import free_bytes

        sets = [ms for ms in self._sets if set_ids is None or ms.id in set_ids]
        models_dir = self.models_dir
        local = {ms.id: self.local.get(ms.id) for ms in sets}

        def work() -> dict[str, SetOverview]:
            free = free_bytes(models_dir)
            return {
                ms.id: SetOverview(
                    registry.status(ms, models_dir),
                    free,
                    set_pipelines(ms, models_dir, local[ms.id]),
                )
                for ms in sets
            }

        def done(result: dict[str, SetOverview]) -> None:
            for set_id, ov in result.items():
                self.cards[set_id].show_overview(ov, self.local.get(set_id))

        self._status_runner.submit(work, done, lambda exc: None)

    def pending(self) -> int:
        return self._runner.pending() + self._status_runner.pending()

    # ------------------------------------------------------------------ download
    def start_download(self, set_id: str) -> None:
        """Download (or resume) a set on a worker; progress on its card."""
        if set_id in self._tokens:
            return
        ms = self.model_set(set_id)
        card = self.cards[set_id]
        token = CancelToken()
        relay = _Relay(self)
        relay.progress.connect(card.show_progress, Qt.ConnectionType.QueuedConnection)
        self._tokens[set_id] = token
        self._relays[set_id] = relay
        card.show_message("")
        card.set_busy(True, cancellable=True)
        card.progress.setValue(0)
        card.progress_label.setText("Asking the hub what to fetch…")
        models_dir, endpoint = self.models_dir, self.endpoint
        factory = self._downloader_factory

        def work() -> Any:
            from engine.models.download import Downloader

            downloader = factory() if factory is not None else Downloader()
            return downloader.download_set(
                ms, models_dir, progress=relay.progress.emit, cancel=token, endpoint=endpoint
            )

        def done(result: Any) -> None:
            self._finish(set_id)
            mb = result.bytes_downloaded / 1e6
            card.show_message(
                f"Downloaded and verified ({mb:.1f} MB fetched, "
                f"{result.files_skipped} file(s) already here).",
                ok=True,
            )
            self.models_changed.emit()

        def failed(exc: BaseException) -> None:
            self._finish(set_id)
            if isinstance(exc, Cancelled):
                card.show_message(
                    "Download cancelled. The partial file is kept: click Resume download to "
                    "continue where it stopped."
                )
            elif isinstance(exc, EngineError):
                card.show_message(str(exc))
            else:
                card.show_message(f"The download failed: {exc}")

        self._runner.submit(work, done, failed)

    def _finish(self, set_id: str) -> None:
        self._tokens.pop(set_id, None)
        relay = self._relays.pop(set_id, None)
        if relay is not None:
            relay.deleteLater()
        self.cards[set_id].set_busy(False)
        self.refresh([set_id])

    def cancel_download(self, set_id: str) -> None:
        token = self._tokens.get(set_id)
        if token is not None:
            token.cancel()
            card = self.cards[set_id]
            card.cancel_button.setEnabled(False)
            card.progress_label.setText("Cancelling…")

    def is_downloading(self, set_id: str) -> bool:
        return set_id in self._tokens

    # ------------------------------------------------------------------ verify
    def verify(self, set_id: str) -> None:
        ms = self.model_set(set_id)
        card = self.cards[set_id]
        card.show_message("")
        card.set_busy(True)
        card.progress.setRange(0, 0)
        card.progress_label.setText("Re-hashing the files…")
        models_dir = self.models_dir

        def work() -> Any:
            from engine.models.download import verify_set

            return verify_set(ms, models_dir)

        def done(result: Any) -> None:
            card.progress.setRange(0, 1000)
            card.set_busy(False)
            _, results = result
            bad = [r for r in results if r.ok is False]
            unknown = [r for r in results if r.ok is None]
            if bad:
                names = ", ".join(r.path.name for r in bad[:4])
                card.show_message(
                    f"{len(bad)} file(s) do not match their checksum: {names}. Download again "
                    "to replace them."
                )
            elif not results:
                card.show_message("Nothing to verify: no files of this set are on disk.")
            else:
                matched = len(results) - len(unknown)
                parts = [f"{matched} file(s) match their checksums."] if matched else []
                if unknown:
                    parts.append(
                        f"{len(unknown)} file(s) placed by hand have no reference hash to check "
                        "against."
                    )
                card.show_message(" ".join(parts), ok=True)
            self.refresh([set_id])

        def failed(exc: BaseException) -> None:
            card.progress.setRange(0, 1000)
            card.set_busy(False)
            card.show_message(f"Verification failed: {exc}")

        self._runner.submit(work, done, failed)

    # ------------------------------------------------------------------ files on disk
    def _choose_local(self, set_id: str) -> None:
        ms = self.model_set(set_id)
        dialog = LocalSourceDialog(ms.title, self.local.get(set_id), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            kind, model, base, lora = dialog.values()
            upsampler, distilled = dialog.parts()
            self.use_local_files(set_id, kind, model, base, lora, upsampler, distilled)

    def use_local_files(
        self,
        set_id: str,
        kind: str,
        model: Path,
        base: Path | None = None,
        lora: Path | None = None,
        upsampler: Path | None = None,
        distilled_lora: Path | None = None,
    ) -> None:
        """Validate (on a worker) and remember files on disk for ``set_id``."""
        card = self.cards[set_id]
        card.show_message("")
        card.local_label.setText("Checking the files…")
        card.local_label.show()

        def done(source: LocalSource) -> None:
            self.local.set(source)
            card.show_message("These files will be used for this model set.", ok=True)
            self.refresh([set_id])
            self.models_changed.emit()

        def failed(exc: BaseException) -> None:
            card.show_message(str(exc))
            self.refresh([set_id])

        self._runner.submit(
            lambda: validate_local_source(
                set_id, kind, model, base, lora, upsampler, distilled_lora
            ),
            done,
            failed,
        )

    def forget_local(self, set_id: str) -> None:
        self.local.remove(set_id)
        self.cards[set_id].show_message("")
        self.refresh([set_id])
        self.models_changed.emit()

    # ------------------------------------------------------------------ self-test
    def run_self_test(self) -> None:
        """Run the self-test on a worker and show its report."""
        from idlora_studio.ui.self_test_view import start_self_test

        start_self_test(
            self._runner,
            self.paths,
            self.check_button,
            self.check_status,
            self.report_view,
            self_test=self._self_test,
            on_report=lambda report: setattr(self, "last_report", report),
        )

    # ------------------------------------------------------------------ closing
    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel downloads and wait for the workers (partial files stay resumable)."""
        for token in self._tokens.values():
            token.cancel()
        self._runner.pool.waitForDone(timeout_ms)
        self._status_runner.pool.waitForDone(timeout_ms)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        # Downloads keep running while the window is hidden; the app calls shutdown at exit.
        super().closeEvent(event)
