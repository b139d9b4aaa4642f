"""The generation queue as an observable model (no widgets): ``JobQueue`` and a table model.

``JobQueue`` keeps an in-memory copy of the persisted jobs (frozen ``JobInfo``), changes them
through a serial database ``TaskRunner`` (never on the GUI thread) and drives one
:class:`~idlora_studio.workers.generation_worker.GenerationWorker` on its own ``QThread``:
as many jobs at a time as the worker's ``capacity`` (one GPU job by default; one per GPU with
a :class:`~idlora_studio.workers.gpu_pool.GPUWorkerPool`, several on a render farm), the next
queued job starting when one ends.

On construction it calls ``recover_after_crash`` (jobs left running become 'interrupted')
and reloads the persisted queue; ``loaded`` fires when that is done. Jobs the last session
left (queued, or interrupted by a crash) are ``pending``: the queue stays ``paused`` until
the user resumes them (:meth:`JobQueue.resume_pending`) or declines (:meth:`discard_pending`).
Closing keeps the running job for the next start (it goes back to the queue in its place).

Signals carry ids; read the job with :meth:`JobQueue.job`. Typical wiring (``app.py``)::

    queue = JobQueue(jobs_repo, takes_repo, db_runner, worker)
    view.setModel(JobsTableModel(queue))
    queue.enqueue([request], JobSpec(model_set="tiny", identity_id=7))
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThread,
    Signal,
)
from PySide6.QtGui import QImage

from engine.api import GenerationRequest, stage_text
from engine.voice.similarity import EXPLANATION  # imported here, not on a take's end
from idlora_studio.library.jobs_repo import JobInfo, JobSpec, JobsRepository, TakesRepository
from idlora_studio.workers.generation_worker import GenerationWorker, start_worker
from idlora_studio.workers.tasks import TaskRunner


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class JobQueue(QObject):
    """Queue of generation jobs; one runs at a time on the worker thread."""

    loaded = Signal()
    job_added = Signal(int)
    job_changed = Signal(int)
    job_removed = Signal(int)
    job_started = Signal(int)  # the worker took the job (it is the running job now)
    job_stage = Signal(int, str)  # job_id, stage (engine.api.STAGES key) as it starts
    job_progress = Signal(int, int, int, float)  # job_id, step, total, eta_s (-1 unknown)
    job_preview = Signal(int, QImage)
    job_finished = Signal(int, int)  # job_id, take_id
    job_failed = Signal(int, str, str)  # job_id, kind, message
    job_cancelled = Signal(int)
    queue_changed = Signal()
    paused_changed = Signal(bool)  # paused: jobs left from the last session wait for a choice
    error = Signal(str)  # a queue action failed (database), user-facing
    _run = Signal(int)
    _shutdown = Signal()
    _warm_up = Signal()
    engine_ready = Signal()  # the worker has imported the engine (after warm_up)

    def __init__(
        self,
        jobs: JobsRepository,
        takes: TakesRepository,
        runner: TaskRunner,
        worker: GenerationWorker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs_repo = jobs
        self.takes_repo = takes
        self._runner = runner
        self._worker = worker
        self._jobs: dict[int, JobInfo] = {}
        self._eta: dict[int, float] = {}
        self._stage: dict[int, str] = {}
        self._cancelling: set[int] = set()
        self._running: list[int] = []  # handed to the worker, in start order
        self._loaded = False
        self._closed = False
        self._paused = False
        self.recovered: list[int] = []
        self.pending: list[int] = []  # jobs left from the last session, offered for resuming
        self._thread: QThread = start_worker(worker)
        conn = Qt.ConnectionType.QueuedConnection
        self._run.connect(worker.run_job, conn)
        self._warm_up.connect(worker.warm_up, conn)
        worker.warmed_up.connect(self.engine_ready, conn)
        self._shutdown.connect(worker.shutdown, Qt.ConnectionType.BlockingQueuedConnection)
        worker.started.connect(self._on_started, conn)
        worker.stage.connect(self._on_stage, conn)
        worker.skipped.connect(self._on_skipped, conn)
        worker.progress.connect(self._on_progress, conn)
        worker.preview.connect(self.job_preview, conn)
        worker.finished.connect(self._on_finished, conn)
        worker.failed.connect(self._on_failed, conn)
        worker.cancelled.connect(self._on_cancelled, conn)
        worker.suspended.connect(self._on_suspended, conn)
        if hasattr(worker, "capacity_changed"):  # a pool of GPUs or a render farm
            worker.capacity_changed.connect(self._on_capacity, conn)

        def load() -> tuple[list[int], list[JobInfo]]:
            recovered = jobs.recover_after_crash()
            return recovered, jobs.list_jobs()

        self._db(load, self._on_loaded)

    # ------------------------------------------------------------------ reading
    @property
    def is_loaded(self) -> bool:
        return self._loaded

    @property
    def running_job(self) -> int | None:
        return self._running[0] if self._running else None

    def running_jobs(self) -> list[int]:
        """Every job handed to the worker (several with one GPU per job, or a farm)."""
        return list(self._running)

    @property
    def capacity(self) -> int:
        """How many jobs the worker runs at once (``worker.capacity``; 1 by default)."""
        return max(1, int(getattr(self._worker, "capacity", 1) or 1))

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (the worker thread is stopped)."""
        return self._closed

    @property
    def paused(self) -> bool:
        """True while jobs left from the last session wait for :meth:`resume_pending` or
        :meth:`discard_pending`; nothing starts meanwhile."""
        return self._paused

    def job(self, job_id: int) -> JobInfo | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[JobInfo]:
        """All known jobs in queue order."""
        return sorted(self._jobs.values(), key=lambda j: (j.position, j.id))

    def queued(self) -> list[int]:
        """Queued jobs in order, without the one handed to the worker."""
        return [
            j.id for j in self.jobs() if j.state == JobState.QUEUED and j.id not in self._running
        ]

    def eta(self, job_id: int) -> float | None:
        return self._eta.get(job_id)

    def stage(self, job_id: int) -> str | None:
        """What the running job is doing (a key of ``engine.api.STAGES``); None otherwise."""
        return self._stage.get(job_id)

    def is_cancelling(self, job_id: int) -> bool:
        """True from a cancel of the running job until the worker confirms it stopped."""
        return job_id in self._cancelling

    # ------------------------------------------------------------------ actions
    def warm_up(self) -> None:
        """Have the worker import the engine (torch, diffusers) now, off the GUI thread and
        before the first job, so generation itself never pays for it (see
        ``GenerationWorker.warm_up``). Cheap to call again."""
        if not self._closed:
            self._warm_up.emit()

    def enqueue(
        self,
        requests: GenerationRequest | Sequence[GenerationRequest],
        spec: JobSpec | None = None,
        on_done: Callable[[list[int]], None] | None = None,
    ) -> None:
        """Append jobs (one per request; e.g. seed variations). ``job_added`` per job."""
        reqs = [requests] if isinstance(requests, GenerationRequest) else list(requests)

        def work() -> list[JobInfo]:
            return [self.jobs_repo.get(i) for i in self.jobs_repo.enqueue(reqs, spec)]

        def done(infos: list[JobInfo]) -> None:
            for info in infos:
                self._jobs[info.id] = info
                self.job_added.emit(info.id)
            self.queue_changed.emit()
            if on_done is not None:
                on_done([i.id for i in infos])
            self._maybe_start()

        self._db(work, done)

    def cancel(self, job_id: int) -> None:
        """Queued: cancelled at once. Running: the engine stops within a denoising step."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        if job_id in self._running:
            self._worker.cancel(job_id)
            if job_id not in self._cancelling:
                self._cancelling.add(job_id)
                self.job_changed.emit(job_id)
                self.queue_changed.emit()
            return
        if job.state != JobState.QUEUED:
            return
        self._set(job_id, state=JobState.CANCELLED.value)
        self.job_cancelled.emit(job_id)
        self.queue_changed.emit()
        self._db(lambda: self.jobs_repo.cancel_queued(job_id), lambda _ok: self._refresh(job_id))

    def retry(self, job_id: int, lighter: bool = False, memory_profile: str | None = None) -> None:
        """Requeue an ended job; ``lighter`` uses the profile the OOM message suggested."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        profile = memory_profile
        if lighter and profile is None:
            profile = job.suggested_profile
        idle = job_id not in self._running  # a job the worker has is never requeued
        self._db(lambda: self.jobs_repo.retry(job_id, profile, not_running=idle), self._on_requeued)

    def move(self, job_id: int, delta: int) -> None:
        """Move a queued job ``delta`` places (negative: earlier)."""
        order = self.queued()
        if job_id not in order:
            return
        rest = [i for i in order if i != job_id]
        new_index = max(0, order.index(job_id) + delta)
        before = rest[new_index] if new_index < len(rest) else None
        self._db(lambda: self._reorder(job_id, before), self._on_reloaded)

    def remove(self, job_id: int) -> None:
        """Remove a job that is not running (queued jobs and history)."""
        job = self._jobs.get(job_id)
        if job is None or job_id in self._running or job.state == JobState.RUNNING:
            return

        def done(_: Any) -> None:
            self._jobs.pop(job_id, None)
            self._eta.pop(job_id, None)
            self.job_removed.emit(job_id)
            self.queue_changed.emit()

        self._db(lambda: self.jobs_repo.remove(job_id), done)

    def vary(self, take_id: int, seeds: Sequence[int | None] = (None,)) -> None:
        """Queue variations of a take (same recipe, new seeds)."""

        def work() -> list[JobInfo]:
            req, spec = self.takes_repo.rerun_spec(take_id)
            reqs = [self.takes_repo.vary(take_id, s) for s in seeds]
            return [self.jobs_repo.get(i) for i in self.jobs_repo.enqueue(reqs, spec)]

        self._db(work, self._on_added)

    def rerun(self, take_id: int) -> None:
        """Queue a take's recipe again, same seed."""

        def work() -> list[JobInfo]:
            return [self.jobs_repo.get(self.takes_repo.rerun(take_id, self.jobs_repo))]

        self._db(work, self._on_added)

    def resume_pending(self) -> None:
        """Run the jobs left from the last session: interrupted ones go back to their places
        in the queue, then the queue starts."""
        interrupted = [i for i in self.pending if self._state_of(i) == JobState.INTERRUPTED]

        def work() -> list[JobInfo]:
            self.jobs_repo.resume(interrupted)
            return self.jobs_repo.list_jobs()

        def done(infos: list[JobInfo]) -> None:
            self._jobs = {j.id: j for j in infos}
            self._unpause()

        self._db(work, done)

    def discard_pending(self) -> None:
        """Do not run the jobs left from the last session: the queued ones are cancelled (the
        interrupted ones stay as they are); both can still be retried one by one."""
        queued = [i for i in self.pending if self._state_of(i) == JobState.QUEUED]
        for job_id in queued:
            self._set(job_id, state=JobState.CANCELLED.value)
            self.job_cancelled.emit(job_id)

        def work() -> None:
            for job_id in queued:
                self.jobs_repo.cancel_queued(job_id)

        self._db(work, lambda _r: self._unpause())

    def _unpause(self) -> None:
        self._paused = False
        self.pending = []
        self.paused_changed.emit(False)
        self.queue_changed.emit()
        self._maybe_start()

    def _state_of(self, job_id: int) -> str | None:
        job = self._jobs.get(job_id)
        return job.state if job is not None else None

    def close(self, keep_jobs: bool = True) -> None:
        """Stop the worker thread and release the model (blocks until the engine notices,
        within a step). ``keep_jobs``: the running job goes back to the queue in its place and
        queued jobs stay, for the next start to offer; otherwise they are all cancelled.
        Call once at shutdown."""
        if self._closed:
            return
        self._closed = True
        for job_id in self._running:
            if keep_jobs:
                self._worker.suspend(job_id)
            else:
                self._worker.cancel(job_id)
        if not keep_jobs:
            queued = self.queued()
            self._db(lambda: [self.jobs_repo.cancel_queued(i) for i in queued], lambda _r: None)
        if self._thread.isRunning():
            self._shutdown.emit()
            self._thread.quit()
            self._thread.wait()
        self._runner.wait()

    # ------------------------------------------------------------------ internals
    def _db(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        def failed(exc: BaseException) -> None:
            self.error.emit(f"The job queue could not be updated: {exc}")

        self._runner.submit(fn, on_done, failed)

    def _reorder(self, job_id: int, before: int | None) -> list[JobInfo]:
        self.jobs_repo.move_before(job_id, before)
        return self.jobs_repo.list_jobs()

    def _set(self, job_id: int, **changes: Any) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs[job_id] = dataclasses.replace(job, **changes)
            self.job_changed.emit(job_id)

    def _refresh(self, job_id: int) -> None:
        def done(info: JobInfo | None) -> None:
            if info is None:
                return
            # Progress of the running job is newer in memory than in the (throttled) row.
            old = self._jobs.get(job_id)
            if old is not None and info.state == JobState.RUNNING:
                info = dataclasses.replace(
                    info, progress_step=old.progress_step, progress_total=old.progress_total
                )
            self._jobs[job_id] = info
            self.job_changed.emit(job_id)

        def work() -> JobInfo | None:
            try:
                return self.jobs_repo.get(job_id)
            except LookupError:
                return None

        self._db(work, done)

    def _on_loaded(self, result: tuple[list[int], list[JobInfo]]) -> None:
        self.recovered, infos = result
        self._jobs = {j.id: j for j in infos}
        self._loaded = True
        # Jobs the last session left (queued, or running when it stopped) wait for the user.
        self.pending = [
            j.id for j in self.jobs() if j.state == JobState.QUEUED or j.id in self.recovered
        ]
        self._paused = bool(self.pending)
        self.queue_changed.emit()
        if self._paused:
            self.paused_changed.emit(True)
        self.loaded.emit()
        self._maybe_start()

    def _on_reloaded(self, infos: list[JobInfo]) -> None:
        # After a move only positions changed; states in memory are as new or newer (the
        # worker's signals may overtake this read), so keep them.
        for info in infos:
            old = self._jobs.get(info.id)
            self._jobs[info.id] = (
                info if old is None else dataclasses.replace(old, position=info.position)
            )
        self.queue_changed.emit()

    def _on_added(self, infos: list[JobInfo]) -> None:
        for info in infos:
            self._jobs[info.id] = info
            self.job_added.emit(info.id)
        self.queue_changed.emit()
        self._maybe_start()

    def _on_requeued(self, info: JobInfo) -> None:
        self._jobs[info.id] = info
        self._eta.pop(info.id, None)
        self.job_changed.emit(info.id)
        self.queue_changed.emit()
        self._maybe_start()

    def _maybe_start(self) -> None:
        if self._closed or not self._loaded or self._paused:
            return
        for job_id in self.queued()[: self.capacity - len(self._running)]:
            self._running.append(job_id)
            self._run.emit(job_id)

    def _job_ended(self, job_id: int) -> None:
        if job_id in self._running:
            self._running.remove(job_id)
        self._eta.pop(job_id, None)
        self._stage.pop(job_id, None)
        self._cancelling.discard(job_id)
        self.queue_changed.emit()
        self._refresh(job_id)
        self._maybe_start()

    def _on_started(self, job_id: int) -> None:
        job = self._jobs.get(job_id)
        self._set(
            job_id,
            state=JobState.RUNNING.value,
            progress_step=0,
            progress_total=0,
            attempts=(job.attempts + 1) if job else 1,
        )
        self.job_started.emit(job_id)
        self.queue_changed.emit()

    def _on_stage(self, job_id: int, stage: str) -> None:
        self._stage[job_id] = stage
        if stage != "denoise":
            self._eta.pop(job_id, None)  # a time left is only known while denoising
        self.job_stage.emit(job_id, stage)
        self.job_changed.emit(job_id)

    def _on_capacity(self, _capacity: int) -> None:
        self.queue_changed.emit()
        self._maybe_start()

    def _on_skipped(self, job_id: int) -> None:
        self._job_ended(job_id)

    def _on_progress(self, job_id: int, step: int, total: int, eta: float) -> None:
        self._eta[job_id] = eta
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs[job_id] = dataclasses.replace(job, progress_step=step, progress_total=total)
        self.job_progress.emit(job_id, step, total, eta)
        self.job_changed.emit(job_id)

    def _on_finished(self, job_id: int, take_id: int) -> None:
        self._set(job_id, state=JobState.FINISHED.value, take_id=take_id)
        self.job_finished.emit(job_id, take_id)
        self._job_ended(job_id)  # re-reads the stored row: it carries the take's voice match

    def _on_failed(self, job_id: int, kind: str, message: str) -> None:
        self._set(job_id, state=JobState.FAILED.value, error_kind=kind, error=message)
        self.job_failed.emit(job_id, kind, message)
        self._job_ended(job_id)

    def _on_suspended(self, job_id: int) -> None:
        self._set(job_id, state=JobState.QUEUED.value, progress_step=0, progress_total=0)
        self._job_ended(job_id)

    def _on_cancelled(self, job_id: int) -> None:
        self._set(job_id, state=JobState.CANCELLED.value)
        self.job_cancelled.emit(job_id)
        self._job_ended(job_id)


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def format_voice_match(score: float | None, *, short: bool = False) -> str:
    """'voice match 0.81' (``short``: '0.81'); '' when there is no score."""
    if score is None:
        return ""
    return f"{score:.2f}" if short else f"voice match {score:.2f}"


def voice_match_tooltip(score: float | None) -> str:
    """What the voice match number is and which model made it."""
    if score is None:
        return "No voice match: the take has no reference clip, or it was not scored.\n" + (
            EXPLANATION
        )
    return f"voice match {score:.2f}\n{EXPLANATION}"


_ENDED_TEXT = {
    JobState.QUEUED: "Queued",
    JobState.FINISHED: "Finished",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
    JobState.INTERRUPTED: "Interrupted",
}


def progress_text(queue: Any, job: JobInfo) -> str:
    """What a job is doing, in words: "Queued", "Encoding the prompt…", "Denoising 12/30",
    "Decoding the video…", "Cancelling…", "Finished", ... (``queue``: a ``JobQueue``)."""
    if job.state == JobState.QUEUED and getattr(queue, "paused", False):
        return "Queued · paused"
    if job.state != JobState.RUNNING:
        return _ENDED_TEXT.get(JobState(job.state), job.state.capitalize())
    if queue.is_cancelling(job.id):
        return "Cancelling…"
    stage = queue.stage(job.id)
    if stage is None:
        return "Starting…"
    if stage == "denoise" and job.progress_total:
        return f"{stage_text(stage)} {job.progress_step}/{job.progress_total}"
    return f"{stage_text(stage)}…"


def progress_fraction(queue: Any, job: JobInfo) -> float:
    """The bar's fill: denoising steps done (all done once decoding started)."""
    stage = queue.stage(job.id) if job.state == JobState.RUNNING else None
    if stage in ("decode_video", "decode_audio", "write"):
        return 1.0
    return job.progress_fraction


class JobsTableModel(QAbstractTableModel):
    """Rows: the queue's jobs in order. Columns: the take (its Speech line), progress (the
    stage in words over a bar), time left while denoising, and the voice match of the take a
    finished job made.

    ``JobIdRole`` on any cell gives the job id; the progress column's ``FractionRole`` gives
    the fraction (0..1) for a progress-bar delegate."""

    COLUMNS = ("Take", "Progress", "Time left", "Voice match")
    TAKE, PROGRESS, TIME_LEFT, VOICE = range(4)
    JobIdRole = Qt.ItemDataRole.UserRole
    FractionRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue = queue
        self._ids: list[int] = [j.id for j in queue.jobs()]
        queue.queue_changed.connect(self._reset)
        queue.job_added.connect(lambda _i: self._reset())
        queue.job_changed.connect(self._changed)

    def job_id(self, row: int) -> int:
        return self._ids[row]

    def _reset(self) -> None:
        ids = [j.id for j in self._queue.jobs()]
        if ids != self._ids:
            self.beginResetModel()
            self._ids = ids
            self.endResetModel()
        elif ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(ids) - 1, len(self.COLUMNS) - 1))

    def _changed(self, job_id: int) -> None:
        if job_id not in self._ids:
            self._reset()
            return
        row = self._ids.index(job_id)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        job = self._queue.job(self._ids[index.row()])
        if job is None:
            return None
        col = index.column()
        if role == self.JobIdRole:
            return job.id
        if role == self.FractionRole:
            return progress_fraction(self._queue, job) if col == self.PROGRESS else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.VOICE:
                return voice_match_tooltip(job.voice_match)
            return job.error or job.request.full_prompt
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.VOICE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if col == self.TAKE:
            return job.prompt_summary
        if col == self.PROGRESS:
            return progress_text(self._queue, job)
        if col == self.TIME_LEFT:
            running = job.state == JobState.RUNNING and self._queue.stage(job.id) == "denoise"
            return _fmt_eta(self._queue.eta(job.id)) if running else ""
        if col == self.VOICE:
            return format_voice_match(job.voice_match, short=True)
        return None
