"""The render farm's Qt adapter: ``FarmWorker`` runs the Studio's queued jobs on a Ray cluster.

It has the signals and slots of :class:`~idlora_studio.workers.generation_worker.GenerationWorker`
(``run_job``, ``cancel``, ``shutdown``; ``started``, ``progress``, ``preview``, ``finished``,
``failed``, ``cancelled``, ``idle``), so :class:`~idlora_studio.state.jobs.JobQueue` drives it
the same way; ``capacity`` says how many jobs it runs at once (the cluster's GPUs divided by the
GPUs a job asks for), and ``capacity_changed`` fires once the cluster is known.

Per job, in the worker's thread: ``queued -> running`` in the database, the inputs named by
SHA-256 and sent only if the cluster's cache lacks them, the task submitted. A timer polls the
progress board (steps, previews, time left, attempts) and the finished tasks. A finished take's
MP4, WAV and thumbnail are written to a temporary folder and stored with
``TakesRepository.add_take`` with the recipe and voice match the cluster computed -- exactly
what the local worker stores -- in one transaction: a take is in the library whole or not at
all. A worker process lost mid-take is Ray's to retry elsewhere (``MAX_RETRIES``).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from engine.api import EngineError
from engine.fsutil import is_disk_full, temp_prefix
from idlora_studio.library.access import TAKE_TEMP_PREFIX
from idlora_studio.library.jobs_repo import (
    JobInfo,
    JobsRepository,
    TakeFiles,
    TakesRepository,
)
from idlora_studio.workers.farm.jobs import FarmResult, farm_job, relocate_recipe
from idlora_studio.workers.generation_worker import _preview_image  # one conversion for both
from idlora_studio.workers.take_files import AUDIO_NAME, THUMB_NAME, VIDEO_NAME

log = logging.getLogger(__name__)

POLL_MS = 250


@dataclass
class _Active:
    key: str
    ref: Any
    job: JobInfo
    step: int = 0
    attempts: int = 0
    stage: str = ""


class FarmWorker(QObject):
    """Runs queued jobs on a Ray cluster (see the module docstring)."""

    started = Signal(int)
    skipped = Signal(int)
    progress = Signal(int, int, int, float)  # job_id, step, total, eta_s (-1: unknown)
    preview = Signal(int, QImage)
    finished = Signal(int, int)  # job_id, take_id
    failed = Signal(int, str, str)  # job_id, kind, message
    cancelled = Signal(int)
    stage = Signal(int, str)  # job_id, stage as it starts on the cluster (engine.api.STAGES)
    suspended = Signal(int)  # job_id: stopped for a quit, queued again in its place
    model_loaded = Signal(str)
    model_released = Signal()
    idle = Signal()
    capacity_changed = Signal(int)
    attempt = Signal(int, int)  # job_id, attempt number (2+: Ray ran it again elsewhere)
    connected = Signal(str)  # the cluster in words
    warmed_up = Signal()

    def __init__(
        self,
        jobs: JobsRepository,
        takes: TakesRepository,
        *,
        address: str,
        temp_dir: Path,
        gpus_per_job: int = 1,
        mode: str | None = None,
        max_in_flight: int | None = None,
        client_factory: Callable[[str], Any] | None = None,
        poll_ms: int = POLL_MS,
    ) -> None:
        super().__init__(None)
        self._jobs = jobs
        self._takes = takes
        self.address = address
        self._temp_dir = Path(temp_dir)
        self.gpus_per_job = int(gpus_per_job)
        self.mode = mode
        self._max = max_in_flight
        self._factory = client_factory
        self._poll_ms = int(poll_ms)
        self._client: Any = None
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._cancel_requests: set[int] = set()
        self._suspend_requests: set[int] = set()
        self._timer: QTimer | None = None
        self._capacity = int(max_in_flight or 1)

    # ------------------------------------------------------------------ any thread
    @property
    def capacity(self) -> int:
        return self._capacity

    def cancel(self, job_id: int) -> None:
        """Cancel ``job_id`` (thread-safe): a waiting task never starts, a running one stops
        within a step."""
        with self._lock:
            self._cancel_requests.add(job_id)

    def suspend(self, job_id: int) -> None:
        """Stop ``job_id`` for a quit (thread-safe): the cluster stops it, and it goes back to
        the queue in its place for the next start."""
        with self._lock:
            self._suspend_requests.add(job_id)
            self._cancel_requests.add(job_id)

    # ------------------------------------------------------------------ worker thread
    def _connect(self) -> Any:
        if self._client is None:
            from idlora_studio.workers.farm.client import FarmClient

            factory = self._factory or FarmClient
            client = factory(self.address)
            client.connect()
            self._client = client
            if self._max is None:
                per = max(1, self.gpus_per_job)
                gpus = client.gpu_count()
                self._capacity = max(1, gpus // per) if self.gpus_per_job else 1
                self.capacity_changed.emit(self._capacity)
            self.connected.emit(client.describe())
        return self._client

    def _poll_timer(self) -> QTimer:
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setInterval(self._poll_ms)
            self._timer.timeout.connect(self.poll)
        return self._timer

    def _take_cancel(self, job_id: int) -> bool:
        with self._lock:
            if job_id in self._cancel_requests:
                self._cancel_requests.discard(job_id)
                return True
            return False

    @Slot(int)
    def run_job(self, job_id: int) -> None:
        """Submit one queued job to the cluster. Never raises."""
        try:
            if self._take_cancel(job_id):
                self._jobs.cancelled(job_id)
                self.cancelled.emit(job_id)
                self.idle.emit()
                return
            if not self._jobs.mark_running(job_id):
                self.skipped.emit(job_id)
                return
            self.started.emit(job_id)
            job = self._jobs.get(job_id)
            try:
                client = self._connect()
                key = f"{getattr(client, 'session', 'x')}-{job_id}-{uuid.uuid4().hex[:6]}"
                fjob, files = farm_job(
                    key,
                    job.request,
                    model_set=job.model_set,
                    lora=Path(job.lora_path) if job.lora_path else None,
                    lora_strength=job.lora_strength,
                    memory_profile=job.memory_profile,
                    gpus=self.gpus_per_job,
                    mode=self.mode,
                )
                client.send_inputs(files)
                ref = client.submit(fjob)
            except (EngineError, OSError) as exc:
                self._fail(job_id, "farm", f"The take could not be sent to the render farm: {exc}")
                return
            self._active[job_id] = _Active(key, ref, job)
            self._poll_timer().start()
        except Exception:  # noqa: BLE001 - a bug must not kill the worker thread
            log.exception("farm job %s failed unexpectedly", job_id)
            self._fail(
                job_id, "other", "An unexpected error stopped this job; details are in the log."
            )

    def _fail(self, job_id: int, kind: str, message: str) -> None:
        with contextlib.suppress(Exception):
            self._jobs.failed(job_id, kind, message)
        self.failed.emit(job_id, kind, message)
        self.idle.emit()

    @Slot()
    def poll(self) -> None:
        """Progress of the running jobs, cancels asked for, takes that came back."""
        if not self._active or self._client is None:
            if self._timer is not None:
                self._timer.stop()
            return
        client = self._client
        try:
            board = client.progress()
            for job_id, act in list(self._active.items()):
                if self._take_cancel(job_id):
                    client.cancel(act.key, act.ref)
                entry = board.get(act.key)
                if entry is None:
                    continue
                if entry.get("attempts", 0) != act.attempts:
                    act.attempts = int(entry["attempts"])
                    self.attempt.emit(job_id, act.attempts)
                stage = str(entry.get("stage") or "")
                if stage and stage != act.stage:
                    act.stage = stage
                    self.stage.emit(job_id, stage)
                step, total = int(entry.get("step", 0)), int(entry.get("total", 0))
                if step != act.step and total and step > 0:  # steps done (any stage)
                    act.step = step
                    eta = entry.get("eta")
                    self.progress.emit(job_id, step, total, -1.0 if eta is None else float(eta))
                    img = _preview_image(entry.get("preview"))
                    if img is not None:
                        self.preview.emit(job_id, img)
                    with contextlib.suppress(Exception):
                        self._jobs.progress(job_id, step, total)
            done = client.finished([a.ref for a in self._active.values()])
        except Exception as exc:  # noqa: BLE001 - the cluster went away: fail what ran there
            log.warning("render farm poll failed: %s", exc)
            for job_id in list(self._active):
                self._active.pop(job_id)
                self._fail(job_id, "farm", f"The render farm stopped answering: {exc}")
            return
        for job_id, act in list(self._active.items()):
            if any(act.ref == ref for ref in done):
                self._active.pop(job_id)
                self._finish(act, client.result(act.ref, act.key))

    def _finish(self, act: _Active, result: FarmResult) -> None:
        job = act.job
        with self._lock:
            suspended = job.id in self._suspend_requests
            self._suspend_requests.discard(job.id)
        if result.status == "cancelled" and suspended:
            self._jobs.requeue(job.id)
            self.suspended.emit(job.id)
        elif result.status == "cancelled":
            self._jobs.cancelled(job.id)
            self.cancelled.emit(job.id)
        elif result.status == "failed":
            self._fail(job.id, result.error_kind or "other", result.message)
            return
        else:
            try:
                take_id = self._store(job, result)
            except Exception as exc:  # noqa: BLE001 - e.g. a full disk: the job can be retried
                log.warning("farm take of job %s could not be stored", job.id, exc_info=True)
                if is_disk_full(exc):
                    self._fail(
                        job.id,
                        "disk_full",
                        "The take came back but could not be saved: disk full. "
                        "Free some space and retry.",
                    )
                else:
                    self._fail(
                        job.id, "other", f"The take came back but could not be stored: {exc}"
                    )
                return
            self.finished.emit(job.id, take_id)
        self.idle.emit()

    def _store(self, job: JobInfo, result: FarmResult) -> int:
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        prefix = temp_prefix(TAKE_TEMP_PREFIX)  # swept at the next start if a kill leaves it
        with tempfile.TemporaryDirectory(dir=self._temp_dir, prefix=prefix) as tmp:
            folder = Path(tmp)
            files = TakeFiles(folder / VIDEO_NAME, folder / AUDIO_NAME, folder / THUMB_NAME)
            files.video.write_bytes(result.video)
            files.audio.write_bytes(result.audio)
            files.thumbnail.write_bytes(result.thumbnail)
            recipe = relocate_recipe(result.recipe, job.request)
            recipe["farm"] = {
                "address": self.address,
                "node": result.node,
                "attempt": result.attempt,
            }
            return self._takes.add_take(
                files,
                recipe,
                job_id=job.id,
                spec=job.spec(),
                voice_match=result.voice_match,
                voice_match_model=result.voice_match_model,
            )

    @Slot()
    def release_model(self) -> None:  # the models live on the cluster
        return

    @Slot()
    def warm_up(self) -> None:
        """Nothing to load here (the engine runs on the cluster); ready at once."""
        self.warmed_up.emit()

    @Slot()
    def shutdown(self) -> None:
        """Cancel what runs on the cluster and leave it."""
        if self._timer is not None:
            self._timer.stop()
        if self._client is not None:
            for job_id, act in self._active.items():
                with contextlib.suppress(Exception):
                    self._client.cancel(act.key, act.ref)
                with self._lock:
                    suspended = job_id in self._suspend_requests
                if suspended:  # quitting: back to the queue for the next start
                    with contextlib.suppress(Exception):
                        self._jobs.requeue(job_id)
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None


__all__ = ["FarmWorker"]
