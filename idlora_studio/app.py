"""The one place that creates and wires the GUI's objects.

``run_gui(argv)`` creates the ``QApplication``, resolves ``Paths``, loads ``Settings``,
opens the ``Library`` and shows the main window. ``build_main_window`` does the wiring
(workers, state, thumbnail cache, window) and is what tests use with a library of their own.
Nothing here imports torch: the engine is loaded only when a job needs it.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from idlora_studio.library import access as housekeeping
from idlora_studio.paths import Paths
from idlora_studio.settings import Settings
from idlora_studio.state.changes import LibraryChanges
from idlora_studio.state.library_state import LibraryState
from idlora_studio.ui.main_window import MainWindow
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.ui.wheel_guard import install_wheel_guard
from idlora_studio.workers.tasks import TaskRunner, run_in_thread

RESOURCES = Path(__file__).resolve().parent / "resources"


def app_icon() -> QIcon:
    return QIcon(str(RESOURCES / "idlora-studio.svg"))


def apply_style(app: QApplication) -> None:
    """The Studio's stylesheet and icon on ``app`` (Fusion style underneath)."""
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    try:
        app.setStyleSheet((RESOURCES / "studio.qss").read_text(encoding="utf-8"))
    except OSError:
        pass  # a missing stylesheet must not stop the Studio


def build_main_window(paths: Paths, settings: Settings, library: Any) -> MainWindow:
    """Wire a main window around an open ``library`` and start loading the grid."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        install_wheel_guard(app)  # one application-wide filter; idempotent
    if hasattr(library, "use_checks"):  # a real library (tests may use a fake)
        from idlora_studio.library.checking import ChildProcessChecks

        # imports are checked in a child process: decoders and OpenCV hold the GIL
        library.use_checks(ChildProcessChecks())
    db_runner = TaskRunner(max_threads=1)  # all library calls, in order
    thumb_runner = TaskRunner(max_threads=2)  # thumbnail decodes
    state = LibraryState(library, db_runner)
    side = int(settings.get("thumbnail_size") or 160)
    thumbnails = ThumbnailCache(thumb_runner, side=max(64, min(side, 320)))
    window = MainWindow(state, thumbnails, paths, settings, runners=(db_runner, thumb_runner))
    window.setWindowIcon(app_icon())
    for obj in (db_runner, thumb_runner, state, thumbnails):
        obj.setParent(window)
    # Every view refreshes from the library's change feed (imports, bundles, jobs...).
    changes = LibraryChanges(library, window)
    changes.tables_changed.connect(state.on_library_changed)
    window.library_changes = changes
    window.add_shutdown_callback(changes.close)
    state.refresh()
    if getattr(library, "store", None) is not None:  # a real library (tests may use a fake)
        from idlora_studio.ui.timeline.panel import build_timeline

        generate = build_generate(paths, settings, library, state, thumbnails, window)
        timeline, timeline_runners = build_timeline(paths, library, window)
        window.add_timeline(timeline, timeline_runners)
        build_projects(paths, settings, library, timeline, timeline_runners[0], window)
        # Finished takes land in the open project's bin.
        generate.queue.job_finished.connect(
            lambda _job_id, take_id: timeline.state.add_to_bin(take_id)
        )
        # The bin's take menu: the same recipe again, with the same or a new seed.
        timeline.bin.regenerate_requested.connect(lambda take_id: generate.queue.rerun(take_id))
        timeline.bin.vary_requested.connect(lambda take_id: generate.queue.vary(take_id))
        # Takes arriving any other way (bundle import) reach the takes strip.
        window.library_changes.tables_changed.connect(generate.on_library_changed)

        # The identity card's "Generate with this person…": the Generate page, that person.
        def generate_with(identity_id: int) -> None:
            generate.generate_with(identity_id)
            window.show_page("generate")

        window.library_panel.generate_requested.connect(generate_with)
        # The Generate form is the open project's.
        timeline.state.project_changed.connect(
            lambda: generate.open_project(timeline.state.project_id)
        )

    from idlora_studio.ui.settings_dialog import open_settings

    window.tools_menu.addAction(
        window.make_action("&Settings…", lambda: open_settings(window), "Ctrl+,")
    )
    check = window.make_action("&Check This Machine…", lambda: offer_first_run(window, force=True))
    window.help_menu.insertAction(window.about_action, check)
    show_library_notices(window, library)
    window.finish_setup()
    return window


def offer_first_run(window: MainWindow, *, force: bool = False, **panel_options: Any) -> Any:
    """On the first start (or from Help > Check This Machine…): the non-modal panel that
    checks GPU, VRAM and disk, offers the model sets and the self-test. Returns the panel,
    or None when the first start is over and ``force`` is not set."""
    settings = window.settings
    if not force and settings is not None and settings.get("first_run_done"):
        return None
    from idlora_studio.ui.first_run import FirstRunPanel

    panel = window.first_run_panel
    if panel is None:
        panel = FirstRunPanel(window.paths, settings, window, **panel_options)
        if window.open_models is not None:
            panel.models_requested.connect(window.open_models)
        window.first_run_panel = panel
        window.add_shutdown_callback(panel.shutdown)
    panel.show()
    panel.raise_()
    panel.start()
    return panel


READ_ONLY_BANNER = "library-read-only"


def show_library_notices(window: MainWindow, library: Any) -> None:
    """A banner that stays while the library is read-only (what still works, and why), and
    the warnings of opening it (a skipped backup) in the notice bar."""
    reason = getattr(library, "read_only", None)
    if isinstance(reason, str) and reason:
        window.banners.show_banner(
            READ_ONLY_BANNER,
            f"The library is open read-only: {reason}. You can browse, play, render and "
            "export to another folder; nothing in the library can be added, changed or "
            "generated until that is fixed and the Studio is started again.",
            level="warning",
            dismissable=False,
        )
    migration = getattr(library, "migration", None)
    for warning in getattr(migration, "warnings", ()) or ():
        window.notice.show_error(warning)


def build_projects(
    paths: Paths,
    settings: Settings,
    library: Any,
    timeline: Any,
    db_runner: TaskRunner,
    window: MainWindow,
) -> Any:
    """Projects in the window: ``ProjectsState`` over the timeline's open project, the File
    menu's project commands, bundle drops anywhere, the title naming the open project."""
    from idlora_studio.state.projects import ProjectsState
    from idlora_studio.ui.project_actions import ProjectActions

    projects = ProjectsState(library, timeline.state, db_runner, settings, parent=window)
    actions = ProjectActions(window, projects, paths.exports_dir)
    window.projects = projects
    window.project_actions = actions
    window.library_changes.tables_changed.connect(projects.on_library_changed)
    timeline.state.name_changed.connect(window.set_project_name)
    timeline.state.error.connect(window.notice.show_error)
    projects.error.connect(window.notice.show_error)
    projects.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
    window.add_runners(projects.bundle_runner)
    window.add_shutdown_callback(actions.drops.remove)
    projects.open_initial()
    return projects


def build_generate(
    paths: Paths,
    settings: Settings,
    library: Any,
    state: LibraryState,
    thumbnails: ThumbnailCache,
    window: MainWindow,
) -> Any:
    """The job queue on its worker thread, the Generate page and the model manager (opened
    from Tools > Models…). No torch import here: the worker loads the engine on the first job."""
    from idlora_studio.library.jobs_repo import JobsRepository, TakesRepository
    from idlora_studio.library.projects_repo import ProjectsRepository
    from idlora_studio.state.generate_form import GenerateFormStore
    from idlora_studio.state.jobs import JobQueue
    from idlora_studio.ui.generate import GeneratePanel
    from idlora_studio.ui.generate.quit_guard import QuitGuard
    from idlora_studio.workers.worker_choice import make_worker

    jobs, takes = JobsRepository.from_library(library), TakesRepository.from_library(library)
    models_dir = Path(settings.get("models_dir") or paths.models_dir)
    worker = make_worker(
        settings,
        jobs,
        takes,
        models_dir=models_dir,
        temp_dir=paths.cache_dir / "tmp",
        config_dir=paths.config_dir,
    )
    queue = JobQueue(jobs, takes, TaskRunner(max_threads=1), worker, parent=window)
    forms = GenerateFormStore(
        ProjectsRepository.from_library(library), TaskRunner(max_threads=1), parent=window
    )
    panel = GeneratePanel(state, queue, thumbnails, paths, settings, form_store=forms)
    guard = QuitGuard(queue, window)
    window.add_close_guard(guard.confirm)
    managers: list[Any] = []

    def open_models() -> None:
        if not managers:
            from idlora_studio.ui.model_manager import ModelManager

            manager = ModelManager(paths, settings, parent=window)
            manager.models_changed.connect(panel.refresh_models)
            managers.append(manager)
        managers[0].show()
        managers[0].raise_()

    def close() -> None:
        for manager in managers:
            manager.shutdown()
        forms.close()
        queue.close(keep_jobs=guard.keep_jobs)

    panel.models_requested.connect(open_models)
    queue.error.connect(window.notice.show_error)
    forms.error.connect(window.notice.show_error)
    window.add_generate_panel(panel, open_models, close)
    window.set_undo_stack("generate", panel.form.undo_stack)
    return panel


def offer_recovered_recordings(window: MainWindow) -> None:
    """Offer takes a crash left behind (non-modal). The scan and the identity list are read
    on the library's worker; the dialog is built back on the GUI thread."""
    from idlora_studio.ui.recorder_dialog import gather_recovery
    from idlora_studio.ui.recorder_dialog import offer_recovered_recordings as offer

    library = window.state.library

    def show(gathered: Any) -> None:
        dialog = offer(window, window.paths, library, gathered=gathered)
        if dialog is not None:
            dialog.finished.connect(
                lambda _code: window.state.notify_changed(window.editor.identity_id)
            )

    run_in_thread(lambda: gather_recovery(window.paths, library), show)


def freeze_startup_heap() -> None:
    """Move every object alive after start-up (modules, classes, the window's wrappers) out of
    the cyclic garbage collector's reach (``gc.freeze``), after one last full collection.

    A full collection walks every tracked object while holding the GIL, in whichever thread
    happens to allocate: with the Studio's ~100,000 start-up objects that took 66 ms
    on a loaded machine, in the generation worker's thread at a take's end, and the GUI
    thread could not run meanwhile (``tools/probe_gui_latency.py``). Frozen objects are still
    freed by reference counting; only cycles among them are never collected, which start-up
    objects (alive until quit) do not leave."""
    gc.collect()
    gc.freeze()


def run_gui(argv: Sequence[str] | None = None) -> int:
    """Open the Studio window; returns the exit code."""
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("ID-LoRA Studio")
    app.setOrganizationName("idlora-studio")
    app.setDesktopFileName("idlora-studio")
    apply_style(app)
    install_wheel_guard(app)  # before any widget exists: value widgets ignore a stray wheel

    paths = Paths.from_env()
    with contextlib.suppress(OSError):  # a read-only or full data folder opens read-only
        paths.ensure()
    housekeeping.start(paths)
    settings = Settings.load(paths.settings_path)
    try:
        from idlora_studio.library import Library

        library = Library.open(paths)
    except Exception as exc:  # noqa: BLE001 - shown to the user, the data is left alone
        QMessageBox.critical(
            None,
            "ID-LoRA Studio",
            f"The library in {paths.data_dir} could not be opened:\n\n{exc}\n\n"
            "Nothing was changed. Backups are kept in "
            f"{paths.backups_dir}.",
        )
        return 1
    window = build_main_window(paths, settings, library)
    freeze_startup_heap()
    window.show()
    QTimer.singleShot(0, lambda: offer_recovered_recordings(window))
    QTimer.singleShot(300, lambda: offer_first_run(window))
    # the import checker's process starts while the user looks around, not on the first drop
    QTimer.singleShot(2000, library.checks.warm)
    try:
        return int(app.exec())
    finally:
        window.shutdown()
        library.close()
        housekeeping.end(paths)
