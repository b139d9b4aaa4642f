"""Job parallel: one :class:`GenerationWorker` per GPU, each on its own thread, seen by the
queue as one worker whose ``capacity`` is the number of GPUs.

``GPUWorkerPool`` forwards each ``run_job`` to a free worker (device ``cuda:i``), routes
``cancel`` to the worker that has the job, and re-emits the workers' signals, so
:class:`~idlora_studio.state.jobs.JobQueue` runs one job per GPU without knowing about GPUs.
Each worker keeps its own model loaded on its own GPU between jobs (its idle release timer as
usual). Jobs must fit one GPU each; a take that needs several GPUs runs through a GPU group
(``engine.distributed.group``) on a single worker instead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Q_ARG, QMetaObject, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from idlora_studio.library.jobs_repo import JobsRepository, TakesRepository
from idlora_studio.workers.generation_worker import GenerationWorker, start_worker


class GPUWorkerPool(QObject):
    """Several generation workers behind the one-worker interface (see the module docstring)."""

    started = Signal(int)
    skipped = Signal(int)
    progress = Signal(int, int, int, float)
    preview = Signal(int, QImage)
    finished = Signal(int, int)
    failed = Signal(int, str, str)
    cancelled = Signal(int)
    model_loaded = Signal(str)
    model_released = Signal()
    idle = Signal()
    capacity_changed = Signal(int)
    warmed_up = Signal()

    def __init__(
        self,
        jobs: JobsRepository,
        takes: TakesRepository,
        *,
        devices: Sequence[str],
        models_dir: Path,
        temp_dir: Path,
        idle_release_s: float = 300.0,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(None)
        if not devices:
            raise ValueError("a GPU pool needs at least one device")
        self.devices = list(devices)
        self.workers: list[GenerationWorker] = []
        self._threads: list[QThread] = []
        for i, device in enumerate(self.devices):
            worker = GenerationWorker(
                jobs,
                takes,
                models_dir=models_dir,
                temp_dir=Path(temp_dir) / f"gpu{i}",
                idle_release_s=idle_release_s,
                device=device,
                factory=factory,
            )
            names = ("started", "progress", "preview", "model_loaded", "model_released")
            for name in names:
                getattr(worker, name).connect(getattr(self, name))
            worker.finished.connect(self._on_finished)
            worker.failed.connect(self._on_failed)
            worker.cancelled.connect(self._on_cancelled)
            worker.skipped.connect(self._on_skipped)
            self.workers.append(worker)
            self._threads.append(start_worker(worker, f"generation-{device}"))
        self.workers[0].warmed_up.connect(self.warmed_up)  # one process: one import
        self._lock = threading.Lock()
        self._busy: dict[int, int] = {}  # job id -> worker index
        self._pending: deque[int] = deque()
        self._cancel_first: set[int] = set()

    # ------------------------------------------------------------------ any thread
    @property
    def capacity(self) -> int:
        return len(self.workers)

    def cancel(self, job_id: int) -> None:
        """Cancel ``job_id`` on the worker that has it (thread-safe)."""
        with self._lock:
            index = self._busy.get(job_id)
            if index is None:  # not handed to a worker yet: cancelled when it is
                self._cancel_first.add(job_id)
        if index is not None:
            self.workers[index].cancel(job_id)

    def device_of(self, job_id: int) -> str | None:
        """The device running ``job_id`` (None: not running here)."""
        with self._lock:
            index = self._busy.get(job_id)
        return None if index is None else self.devices[index]

    # ------------------------------------------------------------------ pool thread
    @Slot(int)
    def run_job(self, job_id: int) -> None:
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
            if cancel_first:
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
    def _on_skipped(self, job_id: int) -> None:
        self.skipped.emit(job_id)
        self._release(job_id)

    @Slot()
    def warm_up(self) -> None:
        QMetaObject.invokeMethod(self.workers[0], "warm_up", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def release_model(self) -> None:
        for worker in self.workers:
            QMetaObject.invokeMethod(worker, "release_model", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def shutdown(self) -> None:
        """Release every worker's model and stop their threads (blocks)."""
        for worker, thread in zip(self.workers, self._threads, strict=True):
            if thread.isRunning():
                QMetaObject.invokeMethod(
                    worker, "shutdown", Qt.ConnectionType.BlockingQueuedConnection
                )
                thread.quit()
                thread.wait()


__all__ = ["GPUWorkerPool"]
