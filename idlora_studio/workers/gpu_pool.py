"""The Studio's generation worker on any number of GPUs: one :class:`GenerationWorker` per
GPU for job parallel, or one worker whose generator is a GPU group for pass or sequence
parallel, chosen by a :class:`~engine.distributed.strategy.ScalePlan`.

``GPUWorkerPool`` looks to :class:`~idlora_studio.state.jobs.JobQueue` like one worker whose
``capacity`` is the number of takes it runs at once. It forwards each ``run_job`` to a free
worker (device ``cuda:i``), routes ``cancel`` to the worker that has the job, and re-emits the
workers' signals. Each worker keeps its own model on its own GPU between jobs (its idle release
timer as usual).

The plan is made in the pool's own thread the first time it is needed (detecting GPUs imports
torch, which the GUI thread never does) and again whenever the pool is idle, so a change in
Settings > GPUs applies from the next take on; ``plan_changed`` reports it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Q_ARG, QMetaObject, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from engine.distributed.strategy import ScalePlan
from idlora_studio.library.jobs_repo import JobsRepository, TakesRepository
from idlora_studio.workers.generation_worker import GenerationWorker, start_worker


def group_factory(devices: tuple[str, ...], mode: str) -> Callable[..., Any]:
    """A generator factory (``GenerationWorker``'s) making a GPU group on ``devices``."""

    def make(
        model: Any,
        lora: Any = None,
        *,
        lora_strength: float = 1.0,
        device: str | None = None,
        memory_profile: str = "auto",
        cache_dir: Path | None = None,
        **parts: Any,
    ) -> Any:
        from engine.distributed.group import GroupGenerator

        return GroupGenerator.load(
            model,
            lora,
            devices=list(devices),
            mode=mode,
            lora_strength=lora_strength,
            memory_profile=memory_profile,
            cache_dir=cache_dir,
            **parts,
        )

    return make


class GPUWorkerPool(QObject):
    """Generation workers laid out by a scale plan (see the module docstring).

    Args:
        plan_fn: returns the plan (called in the pool's thread); e.g. from the settings and
            the detected GPUs (``engine.distributed.strategy.plan``).
        factory: the generator factory of every worker (tests pass a fake one); a group plan
            wraps it in :func:`group_factory` unless a factory is given.
    """

    started = Signal(int)
    skipped = Signal(int)
    progress = Signal(int, int, int, float)
    preview = Signal(int, QImage)
    finished = Signal(int, int)
    failed = Signal(int, str, str)
    cancelled = Signal(int)
    stage = Signal(int, str)  # job_id, stage as it starts (engine.api.STAGES)
    suspended = Signal(int)  # job_id: stopped for a quit, queued again in its place
    model_loaded = Signal(str)
    model_released = Signal()
    idle = Signal()
    warmed_up = Signal()
    capacity_changed = Signal(int)
    plan_changed = Signal(str, str)  # mode, reason

    def __init__(
        self,
        jobs: JobsRepository,
        takes: TakesRepository,
        *,
        plan_fn: Callable[[], ScalePlan],
        models_dir: Path,
        temp_dir: Path,
        idle_release_s: float = 300.0,
        factory: Callable[..., Any] | None = None,
        config_dir: Path | None = None,
    ) -> None:
        super().__init__(None)
        self._jobs_repo = jobs
        self._takes_repo = takes
        self._plan_fn = plan_fn
        self._models_dir = Path(models_dir)
        self._temp_dir = Path(temp_dir)
        self.idle_release_s = float(idle_release_s)
        self._factory = factory
        self._config_dir = config_dir
        self.plan: ScalePlan | None = None
        self.devices: list[str] = []
        self.workers: list[GenerationWorker] = []
        self._threads: list[QThread] = []
        self._lock = threading.Lock()
        self._busy: dict[int, int] = {}  # job id -> worker index
        self._pending: deque[int] = deque()
        self._cancel_first: set[int] = set()
        self._suspend_first: set[int] = set()
        self._capacity = 1

    # ------------------------------------------------------------------ layout (pool thread)
    def _ensure_layout(self) -> None:
        """(Re)build the workers when the plan changed and nothing runs."""
        with self._lock:
            if self._busy:
                return
        plan = self._plan_fn()
        if plan == self.plan:
            return
        self._stop_workers()
        self.plan = plan
        if plan.mode == "jobs":
            layout = [(d, self._factory) for d in plan.devices]
        elif plan.mode in ("passes", "sequence"):
            layout = [(None, self._factory or group_factory(plan.devices, plan.mode))]
        else:
            layout = [(plan.devices[0] if plan.devices else None, self._factory)]
        self.devices = [d or "default" for d, _f in layout]
        for device, factory in layout:
            kwargs: dict[str, Any] = {}
            if self._config_dir is not None:
                kwargs["config_dir"] = self._config_dir
            worker = GenerationWorker(
                self._jobs_repo,
                self._takes_repo,
                models_dir=self._models_dir,
                # one folder for all: take temp names are unique, and the start-up debris
                # sweep looks for them there (library.access)
                temp_dir=self._temp_dir,
                idle_release_s=self.idle_release_s,
                device=device,
                factory=factory,  # None: the engine in its own process, one per worker
                **kwargs,
            )
            names = ("started", "stage", "progress", "preview", "model_loaded", "model_released")
            for name in names:
                getattr(worker, name).connect(getattr(self, name))
            worker.finished.connect(self._on_finished)
            worker.failed.connect(self._on_failed)
            worker.cancelled.connect(self._on_cancelled)
            worker.skipped.connect(self._on_skipped)
            worker.suspended.connect(self._on_suspended)
            worker.warmed_up.connect(self.warmed_up)
            self.workers.append(worker)
            self._threads.append(start_worker(worker, f"generation-{device or 'default'}"))
        self._capacity = len(self.workers)
        self.capacity_changed.emit(self._capacity)
        self.plan_changed.emit(plan.mode, plan.reason)

    def _stop_workers(self) -> None:
        for worker, thread in zip(self.workers, self._threads, strict=True):
            if thread.isRunning():
                QMetaObject.invokeMethod(
                    worker, "shutdown", Qt.ConnectionType.BlockingQueuedConnection
                )
                thread.quit()
                thread.wait()
        self.workers, self._threads = [], []

    # ------------------------------------------------------------------ any thread
    @property
    def capacity(self) -> int:
        return self._capacity

    def cancel(self, job_id: int) -> None:
        """Cancel ``job_id`` on the worker that has it (thread-safe)."""
        with self._lock:
            index = self._busy.get(job_id)
            if index is None:  # not handed to a worker yet: cancelled when it is
                self._cancel_first.add(job_id)
        if index is not None:
            self.workers[index].cancel(job_id)

    def suspend(self, job_id: int) -> None:
        """Stop ``job_id`` for a quit, back to the queue in its place (thread-safe)."""
        with self._lock:
            index = self._busy.get(job_id)
            if index is None:  # not handed to a worker yet: suspended when it is
                self._suspend_first.add(job_id)
        if index is not None:
            self.workers[index].suspend(job_id)

    def device_of(self, job_id: int) -> str | None:
        """The device running ``job_id`` (None: not running here)."""
        with self._lock:
            index = self._busy.get(job_id)
        return None if index is None else self.devices[index]

    # ------------------------------------------------------------------ pool thread
    @Slot(int)
    def run_job(self, job_id: int) -> None:
        self._ensure_layout()
        self._pending.append(job_id)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._pending:
            with self._lock:
                taken = set(self._busy.values())
                free = [i for i in range(len(self.workers)) if i not in taken]
                if not free:
                    return
                job_id = self._pending.popleft()
                self._busy[job_id] = free[0]
                cancel_first = job_id in self._cancel_first
                self._cancel_first.discard(job_id)
                suspend_first = job_id in self._suspend_first
                self._suspend_first.discard(job_id)
            if suspend_first:  # the worker skips it: it stays queued for the next start
                self.workers[free[0]].suspend(job_id)
            elif cancel_first:
                self.workers[free[0]].cancel(job_id)
            QMetaObject.invokeMethod(
                self.workers[free[0]],
                "run_job",
                Qt.ConnectionType.QueuedConnection,
                Q_ARG(int, job_id),
            )

    def _release(self, job_id: int) -> None:
        with self._lock:
            self._busy.pop(job_id, None)
        self.idle.emit()
        if not self._pending:
            self._ensure_layout()  # a settings change applies once nothing runs
        self._dispatch()

    @Slot(int, int)
    def _on_finished(self, job_id: int, take_id: int) -> None:
        self.finished.emit(job_id, take_id)
        self._release(job_id)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, kind: str, message: str) -> None:
        self.failed.emit(job_id, kind, message)
        self._release(job_id)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self.cancelled.emit(job_id)
        self._release(job_id)

    @Slot(int)
    def _on_suspended(self, job_id: int) -> None:
        self.suspended.emit(job_id)
        self._release(job_id)

    @Slot(int)
    def _on_skipped(self, job_id: int) -> None:
        self.skipped.emit(job_id)
        self._release(job_id)

    @Slot()
    def warm_up(self) -> None:
        self._ensure_layout()
        QMetaObject.invokeMethod(self.workers[0], "warm_up", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def release_model(self) -> None:
        for worker in self.workers:
            QMetaObject.invokeMethod(worker, "release_model", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def shutdown(self) -> None:
        """Release every worker's model and stop their threads (blocks)."""
        self._stop_workers()


__all__ = ["GPUWorkerPool", "group_factory"]
