"""The library's projects as observable state: list, recent, open, create, rename, duplicate,
delete, and project bundles in and out.

``ProjectsState`` owns no widgets. The open project itself is the timeline's
:class:`~idlora_studio.state.project.ProjectState`; opening a project loads it there. Project
operations run on the timeline's serial database runner, so they happen after the timeline's
pending saves (deleting the open project never races its last edit). Bundle imports and
exports run on a runner of their own (they can take minutes) with progress and cancel.
Identities are global to the library: no operation here touches them, except a bundle import
that brings the identities its takes use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from idlora_studio.workers.tasks import TaskRunner

RECENT_LIMIT = 8
DEFAULT_NAME = "Untitled"


class _Progress(QObject):
    value = Signal(float)


class ProjectsState(QObject):
    """See the module docstring. ``timeline``: the open project's ``ProjectState``;
    ``db_runner``: the runner its saves use; ``settings`` keeps ``recent_projects``."""

    projects_changed = Signal()  # ``projects`` was reloaded
    current_changed = Signal(int)  # a project was opened (its id)
    about_to_switch = Signal(int)  # the open project (id) is about to be replaced
    bundle_started = Signal(str, str)  # "import" | "export", file name
    bundle_progress = Signal(float)  # 0..1
    bundle_finished = Signal(str, str)  # "imported" | "exported" | "cancelled" | "failed", text
    error = Signal(str)
    message = Signal(str)

    def __init__(
        self,
        library: Any,
        timeline: Any,
        db_runner: TaskRunner,
        settings: Any = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        from idlora_studio.library.projects_repo import ProjectsRepository

        self.library = library
        self.repo = ProjectsRepository.from_library(library)
        self.timeline = timeline
        self.settings = settings
        self._db = db_runner
        self._bundles = TaskRunner(max_threads=1, parent=self)
        self.projects: list[Any] = []
        self._refreshing = False
        self._refresh_again = False
        self._token: Any = None
        timeline.project_changed.connect(self._opened)

    # ------------------------------------------------------------------ queries
    @property
    def current_id(self) -> int | None:
        return self.timeline.project_id

    @property
    def current_name(self) -> str:
        return str(self.timeline.name or "")

    def summary(self, project_id: int) -> Any | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def names(self) -> set[str]:
        return {p.name for p in self.projects}

    def recent(self, limit: int = RECENT_LIMIT) -> list[Any]:
        """Projects opened lately, most recent first (those that still exist)."""
        ids = self._recent_ids()
        by_id = {p.id: p for p in self.projects}
        return [by_id[i] for i in ids if i in by_id][:limit]

    def free_name(self, wanted: str = DEFAULT_NAME) -> str:
        """``wanted``, or "wanted 2", "wanted 3"... if a project has that name."""
        return self._free(wanted, self.names())

    @property
    def bundle_running(self) -> bool:
        return self._token is not None

    @property
    def bundle_runner(self) -> TaskRunner:
        """The runner bundle imports and exports use (the window waits for it at exit)."""
        return self._bundles

    # ------------------------------------------------------------------ recent list
    def _recent_ids(self) -> list[int]:
        if self.settings is None:
            return []
        try:
            return [int(i) for i in self.settings.get("recent_projects") or []]
        except (KeyError, TypeError, ValueError):
            return []

    def _remember(self, project_id: int) -> None:
        if self.settings is None:
            return
        ids = [project_id, *(i for i in self._recent_ids() if i != project_id)]
        self.settings.set("recent_projects", ids[: RECENT_LIMIT * 2])

    # ------------------------------------------------------------------ list
    def refresh(self) -> None:
        """Reload the project list (coalesced)."""
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self._db.submit(self.repo.list_projects, self._listed, self._list_failed)

    def on_library_changed(self, tables: frozenset[str]) -> None:
        """Reload the list when a committed write touched the projects."""
        from idlora_studio.state.changes import PROJECT_TABLES

        if tables & PROJECT_TABLES:
            self.refresh()

    def _listed(self, projects: list[Any]) -> None:
        self.projects = list(projects)
        self._refreshing = False
        self.projects_changed.emit()
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _list_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        self.error.emit(f"Could not read the projects: {exc}")

    # ------------------------------------------------------------------ open
    def open_initial(self) -> None:
        """Open the project used last (or the most recently changed; "Untitled" in an empty
        library)."""
        recent = self._recent_ids()

        def work() -> int:
            existing = {p.id for p in self.repo.list_projects()}
            for pid in recent:
                if pid in existing:
                    return pid
            return self.repo.default_project()

        self._db.submit(work, self._load, self._failed("Could not open a project"))

    def open(self, project_id: int) -> None:
        if project_id == self.current_id:
            return
        self._load(project_id)

    def _load(self, project_id: int) -> None:
        if self.current_id is not None:
            self.about_to_switch.emit(self.current_id)
        self.timeline.load(project_id)

    def _opened(self) -> None:
        pid = self.current_id
        if pid is None:
            return
        self._remember(pid)
        self.refresh()
        self.current_changed.emit(pid)

    # ------------------------------------------------------------------ edits
    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def report(exc: BaseException) -> None:
            self.error.emit(f"{what}: {exc}")

        return report

    def create(self, name: str) -> None:
        """Create project ``name`` and open it."""

        def done(pid: int) -> None:
            self.message.emit(f"Created project “{name.strip()}”")
            self._load(pid)

        self._db.submit(
            lambda: self.repo.create(name), done, self._failed("Could not create the project")
        )

    def rename(self, project_id: int, name: str) -> None:
        def work() -> str:
            self.repo.rename(project_id, name)
            return self.repo.get(project_id).name

        def done(new_name: str) -> None:
            if project_id == self.current_id:
                self.timeline.set_name(new_name)
            self.message.emit(f"Renamed the project to “{new_name}”")
            self.refresh()

        self._db.submit(work, done, self._failed("Could not rename the project"))

    def duplicate(self, project_id: int, name: str | None = None) -> None:
        """Copy the project's bin and timeline into a new project (and open the copy)."""

        def work() -> tuple[int, str]:
            pid = self.repo.duplicate(project_id, name)
            return pid, self.repo.get(pid).name

        def done(result: tuple[int, str]) -> None:
            pid, new_name = result
            self.message.emit(f"Duplicated as “{new_name}”")
            self._load(pid)

        self._db.submit(work, done, self._failed("Could not duplicate the project"))

    def delete(self, project_id: int) -> None:
        """Delete the project (its bin and timeline; never the takes or identities). When it
        is the open one, the most recent other project opens first ("Untitled" if none)."""
        if project_id != self.current_id:
            self._db.submit(
                lambda: self.repo.delete(project_id),
                lambda _: self.refresh(),
                self._failed("Could not delete the project"),
            )
            return

        def choose_next() -> tuple[int, bool]:
            """(project to open, whether the deleted one is gone already)."""
            recent = [i for i in self._recent_ids() if i != project_id]
            others = [p.id for p in self.repo.list_projects() if p.id != project_id]
            for pid in recent:
                if pid in others:
                    return pid, False
            if others:
                return others[0], False
            # The last project: it goes, and an empty "Untitled" takes its place.
            self.repo.delete(project_id)
            taken = {p.name for p in self.repo.list_projects()}
            return self.repo.create(self._free(DEFAULT_NAME, taken)), True

        def then_delete(result: tuple[int, bool]) -> None:
            next_id, deleted = result
            self._load(next_id)  # queued on the same runner: the load runs before the delete
            if deleted:
                return
            self._db.submit(
                lambda: self.repo.delete(project_id),
                lambda _: self.refresh(),
                self._failed("Could not delete the project"),
            )

        self._db.submit(choose_next, then_delete, self._failed("Could not delete the project"))

    @staticmethod
    def _free(wanted: str, taken: set[str]) -> str:
        """``wanted``, or "wanted 2", "wanted 3"... avoiding ``taken`` (any case)."""
        folded = {t.casefold() for t in taken}
        name, n = wanted, 2
        while name.casefold() in folded:
            name = f"{wanted} {n}"
            n += 1
        return name

    # ------------------------------------------------------------------ bundles
    def _start_bundle(self, kind: str, name: str) -> tuple[Any, _Progress] | None:
        if self._token is not None:
            self.error.emit(
                "A project bundle is being imported or exported; wait for it to finish."
            )
            return None
        from engine.api import CancelToken

        self._token = CancelToken()
        progress = _Progress(self)
        progress.value.connect(self.bundle_progress)
        self.bundle_started.emit(kind, name)
        return self._token, progress

    def _end_bundle(self, progress: _Progress, outcome: str, text: str) -> None:
        self._token = None
        progress.deleteLater()
        self.bundle_finished.emit(outcome, text)
        if outcome in ("imported", "exported"):
            self.message.emit(text)
        elif outcome == "failed":
            self.error.emit(text)

    def cancel_bundle(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def import_bundle(self, path: Path | str) -> None:
        """Import a bundle on the bundle runner; the imported project opens when done."""
        path = Path(path)
        started = self._start_bundle("import", path.name)
        if started is None:
            return
        token, progress = started
        library = self.library

        def work() -> tuple[int, str, int]:
            from idlora_studio.library.bundle import import_bundle

            pid = import_bundle(path, library, progress=progress.value.emit, cancel=token)
            detail = self.repo.get(pid)
            return pid, detail.name, len(detail.bin)

        def done(result: tuple[int, str, int]) -> None:
            pid, name, takes = result
            self._end_bundle(
                progress,
                "imported",
                f"Imported project “{name}” ({takes} take(s)) from {path.name}",
            )
            self._load(pid)

        def failed(exc: BaseException) -> None:
            self._end_bundle(progress, *self._bundle_failure(exc, path, "import"))

        self._bundles.submit(work, done, failed)

    def export_bundle(self, project_id: int, path: Path | str) -> None:
        """Write the project's bundle to ``path`` once the timeline's pending saves landed."""
        path = Path(path)
        started = self._start_bundle("export", path.name)
        if started is None:
            return
        token, progress = started
        library = self.library

        def work() -> Any:
            from idlora_studio.library.bundle import export_bundle

            return export_bundle(
                library, project_id, path, progress=progress.value.emit, cancel=token
            )

        def done(result: Any) -> None:
            mb = result.size_bytes / 1e6
            self._end_bundle(
                progress,
                "exported",
                f"Exported the project to {path} ({result.media_files} media file(s), {mb:.1f} MB)",
            )

        def failed(exc: BaseException) -> None:
            self._end_bundle(progress, *self._bundle_failure(exc, path, "export"))

        # A barrier on the database runner: the export starts after queued timeline saves.
        self._db.submit(
            lambda: None,
            lambda _: self._bundles.submit(work, done, failed),
            failed,
        )

    @staticmethod
    def _bundle_failure(exc: BaseException, path: Path, kind: str) -> tuple[str, str]:
        from engine.api import Cancelled, DiskFullError
        from idlora_studio.library.bundle import BundleError

        if isinstance(exc, Cancelled):
            if kind == "import":
                return "cancelled", f"Import of {path.name} cancelled: nothing was changed."
            return "cancelled", f"Export cancelled: {path.name} was not written."
        if isinstance(exc, BundleError | DiskFullError):
            return "failed", str(exc)
        verb = "imported" if kind == "import" else "written"
        return "failed", f"{path.name} could not be {verb}: {exc}"
