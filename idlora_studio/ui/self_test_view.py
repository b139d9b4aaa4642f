"""Running the self-test from a window: one helper for the model manager and the first-start
panel (a button, a status line, a read-only report view)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QAbstractButton, QLabel, QPlainTextEdit

from idlora_studio.workers.tasks import TaskRunner


class _Relay(QObject):
    progress = Signal(object)


def start_self_test(
    runner: TaskRunner,
    paths: Any,
    button: QAbstractButton,
    status: QLabel,
    view: QPlainTextEdit,
    *,
    self_test: Callable[..., Any] | None = None,
    models_dir: Path | None = None,
    on_report: Callable[[Any], None] | None = None,
) -> None:
    """Run ``self_test(paths, progress)`` (default :func:`idlora_studio.selftest.
    run_self_test`) on ``runner``: ``button`` is disabled meanwhile, progress and then the
    verdict go to ``status``, the report's lines to ``view``; ``on_report(report)`` last."""
    button.setEnabled(False)
    status.setText("Running the self-test…")
    relay = _Relay(status)
    relay.progress.connect(
        lambda info: status.setText(
            f"Running the self-test… {info[0]} ({info[1] + 1}/{info[2]})"
            if info[0] != "done"
            else "Finishing…"
        ),
        Qt.ConnectionType.QueuedConnection,
    )

    def work() -> Any:
        def progress(name: str, index: int, count: int) -> None:
            relay.progress.emit((name, index, count))

        if self_test is not None:
            return self_test(paths, progress)
        from idlora_studio.selftest import run_self_test

        return run_self_test(paths, progress, models_dir=models_dir)

    def done(report: Any) -> None:
        relay.deleteLater()
        button.setEnabled(True)
        status.setText(report.verdict())
        view.setPlainText(report.text())
        view.show()
        if on_report is not None:
            on_report(report)

    def failed(exc: BaseException) -> None:
        relay.deleteLater()
        button.setEnabled(True)
        status.setText(f"The self-test could not run: {exc}")

    runner.submit(work, done, failed)
