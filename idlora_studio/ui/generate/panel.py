"""The Generate page: the form on the left; the queue, the live preview and the takes on the
right. It composes the components of this package and wires them; it holds no logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from engine.models import registry
from idlora_studio.state.changes import TAKE_TABLES
from idlora_studio.state.generate_form import GenerateFormStore
from idlora_studio.ui.generate.common import PANEL_STYLE
from idlora_studio.ui.generate.form import GenerateForm
from idlora_studio.ui.generate.preview import LivePreview
from idlora_studio.ui.generate.queue_view import QueueView
from idlora_studio.ui.generate.takes_strip import TakesStrip
from idlora_studio.ui.model_manager import LocalSources
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.workers.tasks import TaskRunner


class GeneratePanel(QWidget):
    """Form → requests → queue; queue view, preview, takes.

    ``queue`` is a :class:`~idlora_studio.state.jobs.JobQueue` (or an object with its API).
    ``form_store`` (optional) keeps the form per project: :meth:`open_project` shows the
    project's form, every edit is saved to it.
    ``gpu_probe`` returns ``engine.memory.GPUInfo | None`` and runs on ``runner``
    (default: ``engine.memory.gpu_info``, asked in a process of its own). Components: ``form``
    (:class:`GenerateForm`), ``queue_view`` (:class:`QueueView`), ``preview``
    (:class:`LivePreview`), ``takes`` (:class:`TakesStrip`).
    """

    models_requested = Signal()  # the user wants the model manager
    requests_queued = Signal(int)  # number of takes handed to the queue

    def __init__(
        self,
        state: Any,
        queue: Any,
        thumbnails: ThumbnailCache,
        paths: Any,
        settings: Any = None,
        *,
        runner: TaskRunner | None = None,
        form_store: GenerateFormStore | None = None,
        gpu_probe: Callable[[], Any] | None = None,
        local_sources: LocalSources | None = None,
        model_sets: dict[str, registry.ModelSet] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("generatePanel")
        self.setStyleSheet(PANEL_STYLE)
        self.state = state
        self.queue = queue
        self.thumbnails = thumbnails
        self.paths = paths
        self.settings = settings
        self._runner = runner or TaskRunner(max_threads=1, parent=self)

        self.form = GenerateForm(
            state,
            queue,
            thumbnails,
            paths,
            self._setting,
            self._runner,
            gpu_probe=gpu_probe,
            local_sources=local_sources,
            model_sets=model_sets,
        )
        self.queue_view = QueueView(queue, state, thumbnails)
        self.preview = LivePreview(queue, self.queue_view.job_label)
        self.takes = TakesStrip(queue, thumbnails, self._runner)
        self.form_store = form_store

        side = QWidget()
        side.setObjectName("editorBody")
        lay = QVBoxLayout(side)
        lay.setContentsMargins(12, 12, 16, 12)
        lay.setSpacing(10)
        lay.addWidget(self.queue_view, 5)
        bottom = QHBoxLayout()
        bottom.setSpacing(10)
        bottom.addWidget(self.preview, 1)
        bottom.addWidget(self.takes, 1)
        lay.addLayout(bottom, 4)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("generateSplitter")  # named: the window's layout keeps it
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.form)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([560, 700])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)

        self.form.model.models_requested.connect(self.models_requested)
        self.form.requests_queued.connect(self.requests_queued)
        self.form.identity.identity_switched.connect(self.takes.show_identity)
        self.queue_view.settings_requested.connect(self._use_job_settings)
        self.takes.settings_requested.connect(self.form.apply_job)
        self._form_shown_once = False  # a project's saved form has been shown
        self._form_loaded = False  # the open project's saved form has arrived
        if form_store is not None:
            self.form.edited.connect(self._form_edited)
            form_store.loaded.connect(self._project_form_loaded)
        thumbnails.ready.connect(self.form.identity.thumbnail_ready)
        thumbnails.ready.connect(self.takes.thumbnail_ready)

        self.form.identity.fill_identities()
        self.form.model.refresh_models()
        self.form.update_all()

    def _setting(self, name: str, default: Any) -> Any:
        if self.settings is None:
            return default
        try:
            value = self.settings.get(name)
        except (AttributeError, KeyError):
            return default
        return default if value in (None, "") else value

    # ------------------------------------------------------------------ the page's API
    @property
    def identity_id(self) -> int | None:
        return self.form.identity.identity_id

    def set_identity(self, identity_id: int | None) -> None:
        """Choose the identity the next takes are generated from."""
        self.form.identity.set_identity(identity_id)

    def generate_with(self, identity_id: int) -> None:
        """The library's "Generate with this person…": that identity in this page's own
        picker (the prompt and settings stay as they are)."""
        self.set_identity(identity_id)

    def on_library_changed(self, tables: frozenset[str]) -> None:
        """The library's change feed: takes that arrived by another way (a bundle import,
        another window) show in the takes strip without a restart."""
        if tables & TAKE_TABLES:
            self.takes.reload()

    def select_model_set(self, set_id: str) -> None:
        self.form.model.select_model_set(set_id)

    def refresh_models(self) -> None:
        """Re-read which model sets are installed (after the model manager changed them)."""
        self.form.model.refresh_models()

    def open_project(self, project_id: int | None) -> None:
        """Show the form as it was left in ``project_id`` (saved as it changes)."""
        if self.form_store is not None and project_id != self.form_store.project_id:
            self._form_loaded = False
            self.form_store.open_project(project_id)

    def _form_edited(self) -> None:
        # Nothing is saved before the project's own form has been read: a write of the
        # defaults must never replace it.
        if self.form_store is not None and self._form_loaded:
            self.form_store.save(self.form.form_state())

    def _project_form_loaded(self, _project_id: int, form: dict[str, Any]) -> None:
        first = not self._form_shown_once
        self._form_shown_once = self._form_loaded = True
        if first and self.form.typed_since_start() and self.form_store is not None:
            # The user typed while the Studio was still opening the project: what they typed
            # wins over the older saved form (and becomes the project's form).
            self.form_store.save(self.form.form_state())
            return
        self.form.show_saved(form)

    def _use_job_settings(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        if job is not None:
            self.form.apply_job(job)

    def queue_takes(self) -> int:
        """Queue the form's takes; returns how many (0 when something is wrong)."""
        return self.form.queue_takes()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.form.model.probe_gpu()
        self.queue.warm_up()  # import the engine on the worker before the first take
