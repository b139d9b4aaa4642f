"""The first-start panel: what this machine can do, which model sets fit it, and the self-test.

Shown once (non-modal) on the first start, and from Help > Check This Machine… afterwards.
The machine check (GPU, VRAM, free disk, versions: :func:`idlora_studio.selftest.run_self_test`
without the generation) and each model set's fit (:func:`idlora_studio.selftest.model_set_fit`)
run on a worker; the self-test with its tiny generation runs on a worker when asked. Every
line shows ✓, ⚠ or ✗ as the check found it: nothing is shown as fine that is not there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.workers.tasks import TaskRunner

MARK_COLOURS = {"✓": "#4cc38a", "⚠": "#e5a84b", "✗": "#e5534b", "…": "#9aa1b2"}
FIT_MARKS = {"ok": "✓", "warn": "⚠", "no": "✗"}


def _mark_label(mark: str = "…") -> QLabel:
    label = QLabel()
    label.setFixedWidth(18)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
    _set_mark(label, mark)
    return label


def _set_mark(label: QLabel, mark: str) -> None:
    label.setText(mark)
    label.setStyleSheet(f"color: {MARK_COLOURS.get(mark, '#9aa1b2')}; font-weight: 700;")


def _wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class FirstRunPanel(QDialog):
    """See the module docstring. ``machine_check(paths, models_dir)`` returns ``(report, gpu,
    free_disk, installed_ids)`` (tests pass their own); ``self_test(paths, progress)`` runs the
    full self-test (default :func:`idlora_studio.selftest.run_self_test`)."""

    models_requested = Signal()
    checked = Signal(object)  # the machine report
    self_test_finished = Signal(object)

    MACHINE_ROWS = ("GPU", "Memory profile", "Disk", "Software")

    def __init__(
        self,
        paths: Any,
        settings: Any = None,
        parent: QWidget | None = None,
        *,
        models_dir: Path | None = None,
        sets: Sequence[Any] | None = None,
        machine_check: Callable[..., Any] | None = None,
        self_test: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(parent)
        from engine.models import registry

        self.setWindowTitle("Welcome to ID-LoRA Studio")
        self.setObjectName("firstRunPanel")
        self.setModal(False)
        self.resize(720, 640)
        self.paths = paths
        self.settings = settings
        custom = str(settings.get("models_dir") or "") if settings is not None else ""
        self.models_dir = Path(models_dir or custom or paths.models_dir)
        self._sets = list(sets if sets is not None else registry.MODEL_SETS.values())
        self._machine_check = machine_check or default_machine_check
        self._self_test = self_test
        self._runner = TaskRunner(max_threads=1, parent=self)
        self.report: Any = None
        self.self_test_report: Any = None

        title = QLabel("Welcome to ID-LoRA Studio")
        title.setObjectName("panelTitle")
        intro = _wrapped(
            "Before the first take: what this computer can do, which model sets fit it, and "
            "a self-test that runs the whole pipeline on a tiny built-in model."
        )
        intro.setObjectName("dimLabel")

        machine = QGroupBox("This machine")
        grid = QGridLayout(machine)
        grid.setColumnStretch(2, 1)
        self.machine_marks: dict[str, QLabel] = {}
        self.machine_lines: dict[str, QLabel] = {}
        for row, name in enumerate(self.MACHINE_ROWS):
            mark, line = _mark_label(), _wrapped("Checking…")
            self.machine_marks[name], self.machine_lines[name] = mark, line
            grid.addWidget(mark, row, 0)
            grid.addWidget(QLabel(name), row, 1, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(line, row, 2)

        models = QGroupBox("Model sets")
        ml = QGridLayout(models)
        ml.setColumnStretch(2, 1)
        self.set_marks: dict[str, QLabel] = {}
        self.set_lines: dict[str, QLabel] = {}
        for row, ms in enumerate(self._sets):
            mark, line = _mark_label(), _wrapped("Checking…")
            name = QLabel(ms.title)
            name.setWordWrap(True)
            name.setMinimumWidth(150)
            self.set_marks[ms.id], self.set_lines[ms.id] = mark, line
            ml.addWidget(mark, row, 0)
            ml.addWidget(name, row, 1, Qt.AlignmentFlag.AlignTop)
            ml.addWidget(line, row, 2)
        self.models_button = QPushButton("Choose and download models…")
        self.models_button.setObjectName("primaryButton")
        self.models_button.clicked.connect(self.models_requested)
        ml.addWidget(self.models_button, len(self._sets), 0, 1, 3, Qt.AlignmentFlag.AlignLeft)

        test = QGroupBox("Self-test")
        tl = QVBoxLayout(test)
        self.test_button = QPushButton("Run the self-test")
        self.test_button.clicked.connect(self.run_self_test)
        self.test_status = _wrapped("A few seconds: one tiny generation written to an MP4.")
        self.test_status.setObjectName("dimLabel")
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_status, 1)
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setMinimumHeight(110)
        self.report_view.hide()
        tl.addLayout(row)
        tl.addWidget(self.report_view)

        body = QWidget()
        body.setObjectName("editorBody")
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 8, 0)
        for w in (title, intro, machine, models, test):
            bl.addWidget(w)
        bl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(scroll, 1)
        layout.addLayout(bottom)

    # ------------------------------------------------------------------ machine
    def start(self) -> None:
        """Check the machine and the model sets on a worker."""
        paths, models_dir, sets, check = (
            self.paths,
            self.models_dir,
            self._sets,
            self._machine_check,
        )

        def work() -> Any:
            from idlora_studio.selftest import model_set_fit

            report, gpu, free_disk, installed = check(paths, models_dir)
            fits = [model_set_fit(ms, gpu, free_disk, ms.id in installed) for ms in sets]
            return report, fits

        self._runner.submit(work, self._machine_done, self._machine_failed)

    def _machine_done(self, result: Any) -> None:
        report, fits = result
        self.report = report
        for name in self.MACHINE_ROWS:
            c = report.check(name)
            if c is not None:
                _set_mark(self.machine_marks[name], c.mark)
                self.machine_lines[name].setText(c.detail)
        for fit in fits:
            _set_mark(self.set_marks[fit.set_id], FIT_MARKS[fit.level])
            self.set_lines[fit.set_id].setText(fit.detail)
        self.checked.emit(report)

    def _machine_failed(self, exc: BaseException) -> None:
        for name in self.MACHINE_ROWS:
            _set_mark(self.machine_marks[name], "✗")
            self.machine_lines[name].setText(f"The check could not run: {exc}")

    # ------------------------------------------------------------------ self-test
    def run_self_test(self) -> None:
        from idlora_studio.ui.self_test_view import start_self_test

        def finished(report: Any) -> None:
            self.self_test_report = report
            self.self_test_finished.emit(report)

        start_self_test(
            self._runner,
            self.paths,
            self.test_button,
            self.test_status,
            self.report_view,
            self_test=self._self_test,
            models_dir=self.models_dir,
            on_report=finished,
        )

    # ------------------------------------------------------------------ closing
    def done(self, result: int) -> None:  # Close, Esc, the title bar's X
        if self.settings is not None:
            self.settings.set("first_run_done", True)
        super().done(result)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        self._runner.wait(timeout_ms)


def default_machine_check(paths: Any, models_dir: Path) -> tuple[Any, Any, int, set[str]]:
    """(machine report without the generation, the GPU or None, free bytes in the models
    folder, ids of the model sets already on disk). Imports torch: call it on a worker."""
    from engine.fsutil import free_bytes
    from engine.memory import gpu_info
    from engine.models import registry
    from idlora_studio.selftest import run_self_test

    report = run_self_test(paths, models_dir=models_dir, generation=False)
    try:
        gpu = gpu_info()
    except Exception:  # noqa: BLE001 - the report's GPU line says why
        gpu = None
    installed = set()
    for ms in registry.MODEL_SETS.values():
        try:
            if registry.status(ms, models_dir).complete:
                installed.add(ms.id)
        except OSError:
            pass
    models_dir.mkdir(parents=True, exist_ok=True)
    return report, gpu, free_bytes(models_dir), installed
