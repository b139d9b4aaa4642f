"""The Generate page's form, kept per project: read when a project opens, written as it changes.

``GenerateFormStore`` holds no widgets. The page hands it the form (a JSON-ready dict) on every
edit; the store writes it through ``ProjectsRepository.save_generate_form`` on its database
runner after a short quiet period (typing is not a write per keystroke), and at once when the
project changes or the Studio closes (:meth:`flush`), so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from idlora_studio.workers.tasks import TaskRunner

SAVE_DELAY_MS = 400


class GenerateFormStore(QObject):
    """Load/save the Generate form of the open project (``projects``: a
    ``ProjectsRepository``; every call runs on ``runner``)."""

    loaded = Signal(int, dict)  # project_id, the saved form ({}: none)
    saved = Signal(int)  # project_id: a write landed
    error = Signal(str)

    def __init__(
        self,
        projects: Any,
        runner: TaskRunner,
        delay_ms: int = SAVE_DELAY_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._projects = projects
        self._runner = runner
        if runner.parent() is None:  # results arriving after the store is gone are dropped
            runner.setParent(self)
        self._project: int | None = None
        self._pending: dict[str, Any] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)

    @property
    def project_id(self) -> int | None:
        return self._project

    def open_project(self, project_id: int | None) -> None:
        """Save what is pending for the previous project, then read this one's form."""
        if project_id == self._project:
            return
        self.flush()
        self._project = project_id
        if project_id is None:
            return

        def done(form: dict[str, Any]) -> None:
            if project_id == self._project:
                self.loaded.emit(project_id, form)

        self._runner.submit(
            lambda: self._projects.generate_form(project_id),
            done,
            lambda exc: self.error.emit(
                f"The Generate form of this project could not be read: {exc}"
            ),
        )

    def save(self, form: dict[str, Any]) -> None:
        """Remember ``form`` for the open project; written after a quiet period."""
        if self._project is None:
            return
        self._pending = dict(form)
        self._timer.start()

    def flush(self) -> None:
        """Write what is pending now (on the runner)."""
        self._timer.stop()
        form, self._pending = self._pending, None
        project_id = self._project
        if form is None or project_id is None:
            return
        self._runner.submit(
            lambda: self._projects.save_generate_form(project_id, form),
            lambda _r: self.saved.emit(project_id),
            lambda exc: self.error.emit(f"The Generate form could not be saved: {exc}"),
        )

    def close(self) -> None:
        """Write what is pending and wait for it (at shutdown)."""
        self.flush()
        self._runner.wait()
