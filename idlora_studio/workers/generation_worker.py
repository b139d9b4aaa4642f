"""The one adapter between the engine and Qt: a worker object on its own QThread.

``GenerationWorker`` is parentless and moved to a ``QThread`` (see :func:`start_worker`). Its
slot :meth:`GenerationWorker.run_job` runs one persisted job end to end, in the worker thread:

1. ``queued -> running`` in the database (a job cancelled meanwhile is skipped);
2. get a generator from the cache (keyed by model set, LoRA, strength, memory profile,
   device; another key closes the old one first; an idle timer closes it after
   ``settings.model_idle_release_s``). The job's model set is resolved by
   :func:`engine.models.local_sources.resolve_model`: the built-in tiny models, the files the
   user pointed at (a single-file checkpoint with its base), or the downloaded set; the
   spatial upsampler and distilled LoRA are loaded only for a pipeline that needs them (a
   cached generator that has them serves every pipeline);
3. :func:`~idlora_studio.workers.take_files.generate_take`: the generation with a progress
   callback (``stage`` as each stage starts, the worker's own ``load_model`` and ``write``
   included; ``progress`` and ``preview`` after each denoising step, throttled database
   writes) and a :class:`~engine.api.CancelToken`, then the MP4 (H.264 + AAC), WAV, JPEG
   thumbnail, recipe and voice match into a temporary folder;
4. :meth:`TakesRepository.add_take` stores the files and finishes the job in one transaction;
5. ``finished(job_id, take_id)``, or ``failed(job_id, kind, message)`` with a user-facing
   sentence, or ``cancelled(job_id)``.

By default (no ``factory``) the engine runs in a process of its own
(:class:`~idlora_studio.workers.engine_process.EngineProcess`): the generator is loaded, and
takes generated and rendered, in that process, and this thread only relays its progress and
writes the database. Generation then never holds the GUI process's GIL (the reason is in that
module's docstring). A ``factory`` (tests, GPU groups) makes generators in this thread instead.

Only ids, numbers, strings and ``QImage`` (not a widget) leave the thread. :meth:`cancel` and
:meth:`suspend` are the methods meant to be called from another thread (they only set a
token; a suspended job goes back to the queue in its place instead of being cancelled).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from engine.api import (
    Cancelled,
    CancelToken,
    DiskFullError,
    EngineError,
    InvalidRequestError,
    MediaError,
    ModelNotFoundError,
    OutOfMemoryError,
    ProgressInfo,
)
from engine.fsutil import is_disk_full, temp_prefix
from idlora_studio.library.access import TAKE_TEMP_PREFIX
from idlora_studio.library.jobs_repo import (
    JobInfo,
    JobsRepository,
    TakeFiles,
    TakesRepository,
)
from idlora_studio.workers.engine_process import EngineProcess
from idlora_studio.workers.take_files import generate_take

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorKey:
    """What identifies a loaded generator in the cache (``parts``: the optional parts loaded,
    e.g. ``spatial_upsampler``, ``distilled_lora``)."""

    model_set: str
    lora: str | None
    lora_strength: float
    memory_profile: str
    device: str | None
    parts: frozenset[str] = frozenset()

    def serves(self, other: GeneratorKey) -> bool:
        """Whether a generator loaded for ``self`` can run a job that needs ``other``."""
        same = (self.model_set, self.lora, self.lora_strength, self.memory_profile, self.device)
        theirs = (
            other.model_set,
            other.lora,
            other.lora_strength,
            other.memory_profile,
            other.device,
        )
        return same == theirs and other.parts <= self.parts


#: ``factory(model, lora, *, lora_strength, device, memory_profile, cache_dir, base=,
#: upsampler=, distilled_lora=)`` -> generator
GeneratorFactory = Callable[..., Any]


def resolve_model(
    model_set: str, models_dir: Path, lora: Path | None, config_dir: Path | None = None
) -> Any:
    """The :class:`~engine.models.local_sources.ResolvedModel` of a job's model set (files the
    user pointed at in ``config_dir``'s model sources win over downloaded ones)."""
    from engine.models.local_sources import LocalSources
    from engine.models.local_sources import resolve_model as resolve

    local = LocalSources.load(config_dir) if config_dir is not None else None
    return resolve(model_set, models_dir, lora, local)


def _lighter(profile: str | None) -> str | None:
    if not profile or profile == "auto":
        return None
    from engine.memory import lighter_profile

    try:
        return lighter_profile(profile)
    except (KeyError, ValueError):
        return None


def _preview_image(preview: Any) -> QImage | None:
    import numpy as np

    if preview is None:
        return None
    arr = np.ascontiguousarray(preview, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        return None
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class GenerationWorker(QObject):
    """Runs jobs on the thread it lives on. Signals are delivered queued to the GUI thread."""

    started = Signal(int)  # job_id: marked running
    skipped = Signal(int)  # job_id: no longer queued when its turn came (nothing ran)
    stage = Signal(int, str)  # job_id, stage (a key of engine.api.STAGES) as it starts
    progress = Signal(int, int, int, float)  # job_id, step, total, eta_s (-1: unknown)
    preview = Signal(int, QImage)  # job_id, low-res preview of the current estimate
    finished = Signal(int, int)  # job_id, take_id
    failed = Signal(int, str, str)  # job_id, kind, user-facing message
    cancelled = Signal(int)  # job_id
    suspended = Signal(int)  # job_id: stopped for a quit, queued again in its place
    model_loaded = Signal(str)  # model set id
    model_released = Signal()
    idle = Signal()  # after every job (whatever the outcome)
    warmed_up = Signal()  # the engine's modules are imported (see warm_up)

    #: the factory of a worker made without one; None: the engine in its own process
    #: (``EngineProcess``). Tests put a fake here to drive the whole Studio with it.
    DEFAULT_FACTORY: GeneratorFactory | None = None

    def __init__(
        self,
        jobs: JobsRepository,
        takes: TakesRepository,
        *,
        models_dir: Path,
        temp_dir: Path,
        idle_release_s: float = 300.0,
        device: str | None = None,
        factory: GeneratorFactory | None = None,
        config_dir: Path | None = None,
    ) -> None:
        super().__init__(None)
        self._jobs = jobs
        self._takes = takes
        self._models_dir = Path(models_dir)
        self._temp_dir = Path(temp_dir)
        self._config_dir = Path(config_dir) if config_dir is not None else None
        self.idle_release_s = float(idle_release_s)
        self._device = device
        factory = factory or self.DEFAULT_FACTORY
        self._engine = EngineProcess() if factory is None else None
        self._factory: GeneratorFactory = factory or self._engine.load  # type: ignore[union-attr]
        self._generator: Any = None
        self._key: GeneratorKey | None = None
        self._timer: QTimer | None = None
        self._lock = threading.Lock()
        self._tokens: dict[int, CancelToken] = {}
        self._warm = False
        self._suspend: set[int] = set()

    # ------------------------------------------------------------------ any thread
    def cancel(self, job_id: int) -> None:
        """Cancel ``job_id`` if it is running or about to run (thread-safe)."""
        with self._lock:
            self._tokens.setdefault(job_id, CancelToken()).cancel()

    def suspend(self, job_id: int) -> None:
        """Stop ``job_id`` like :meth:`cancel`, but put it back in the queue in its place
        instead of cancelling it (the Studio is quitting; thread-safe)."""
        with self._lock:
            self._suspend.add(job_id)
            self._tokens.setdefault(job_id, CancelToken()).cancel()

    @property
    def generator_key(self) -> GeneratorKey | None:
        return self._key

    # ------------------------------------------------------------------ worker thread
    def _idle_timer(self) -> QTimer:
        if self._timer is None:  # created on first use, so it lives in the worker thread
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self.release_model)
        return self._timer

    @Slot()
    def release_model(self) -> None:
        """Close the cached generator (frees GPU memory)."""
        if self._generator is not None:
            gen, self._generator, self._key = self._generator, None, None
            with contextlib.suppress(Exception):
                gen.close()
            self.model_released.emit()

    @Slot()
    def warm_up(self) -> None:
        """Start the engine now rather than inside the first job: its imports (torch,
        diffusers, transformers) and the VAD and speaker-encoder models a take uses take
        seconds. Done once, when the Generate page is first shown.

        With the engine process this only waits (on this thread) for the process to be
        ready. With a ``factory`` the imports happen on this thread, in the GUI's process,
        and hold its GIL (the stalls ``tools/probe_gui_latency.py`` measured).
        """
        if self._warm:
            return
        self._warm = True
        try:
            if self._engine is not None:
                self._engine.warm_up()
            else:
                from idlora_studio.workers.engine_process import warm_up

                warm_up()
        except Exception:  # noqa: BLE001 - the first job reports a broken install properly
            log.exception("engine warm-up failed")
        self.warmed_up.emit()

    @Slot()
    def shutdown(self) -> None:
        """Release the model and end the engine process (called once, at quit)."""
        if self._timer is not None:
            self._timer.stop()
        self.release_model()
        if self._engine is not None:
            self._engine.stop()

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id while it runs (None: none, or generators made here)."""
        return self._engine.pid if self._engine is not None else None

    def _get_generator(self, job: JobInfo) -> Any:
        resolved = resolve_model(job.model_set, self._models_dir, job.lora_path, self._config_dir)
        pipeline = job.request.pipeline
        missing = resolved.missing_for(pipeline)
        if missing:
            from engine.pipeline.presets import get_preset

            title = get_preset(pipeline).title
            raise ModelNotFoundError(
                f"the {title} pipeline needs {' and '.join(missing)}, which this model set "
                "does not have. Download it in the model manager or point the set at the file "
                "(Use files on disk…).",
                tuple(missing),
            )
        parts = resolved.loader_kwargs(pipeline)
        key = GeneratorKey(
            job.model_set,
            str(job.lora_path) if job.lora_path else None,
            float(job.lora_strength),
            job.memory_profile,
            self._device,
            frozenset(k for k in parts if k != "base"),
        )
        if (
            self._generator is not None
            and self._key is not None
            and self._key.serves(key)
            and getattr(self._generator, "usable", True)  # an engine process that died: no
        ):
            return self._generator
        self.release_model()
        self.stage.emit(job.id, "load_model")
        self.warm_up()  # a job queued before the Generate page was shown
        self._generator = self._factory(
            resolved.model,
            resolved.lora,
            lora_strength=job.lora_strength,
            device=self._device,
            memory_profile=job.memory_profile,
            cache_dir=self._models_dir,
            **parts,
        )
        self._key = key
        self.model_loaded.emit(job.model_set)
        return self._generator

    @Slot(int)
    def run_job(self, job_id: int) -> None:
        """Run one queued job (see the module docstring). Never raises."""
        self._idle_timer().stop()
        with self._lock:
            token = self._tokens.setdefault(job_id, CancelToken())
        try:
            if token.cancelled:
                if self._suspended(job_id):
                    self.skipped.emit(job_id)  # still queued, for the next start
                    return
                self._jobs.cancelled(job_id)
                self.cancelled.emit(job_id)
                return
            if not self._jobs.mark_running(job_id):
                self.skipped.emit(job_id)
                return
            self.started.emit(job_id)
            self._run(self._jobs.get(job_id), token)
        except Exception:  # noqa: BLE001 - a bug must not kill the worker thread
            log.exception("generation job %s failed unexpectedly", job_id)
            msg = "An unexpected error stopped this job; details are in the log."
            with contextlib.suppress(Exception):
                self._jobs.failed(job_id, "other", msg)
            self.failed.emit(job_id, "other", msg)
        finally:
            with self._lock:
                self._tokens.pop(job_id, None)
                self._suspend.discard(job_id)
            if self._generator is not None and self.idle_release_s >= 0:
                self._idle_timer().start(int(self.idle_release_s * 1000))
            self.idle.emit()

    def _suspended(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._suspend

    def _fail(self, job: JobInfo, kind: str, message: str, suggested: str | None = None) -> None:
        """Record and report a failure. When even the record cannot be written (the disk is
        full), the job stays 'running' in the database -- retryable once space is freed, and
        'interrupted' after a restart -- and the failure is still reported."""
        try:
            self._jobs.failed(job.id, kind, message, suggested_profile=suggested)
        except Exception as exc:  # noqa: BLE001 - reported below either way
            log.warning("job %s: its failure could not be recorded: %s", job.id, exc)
        self.failed.emit(job.id, kind, message)

    def _run(self, job: JobInfo, token: CancelToken) -> None:
        req = job.request
        try:
            generator = self._get_generator(job)

            last_stage = [""]

            def on_progress(p: ProgressInfo) -> None:
                if p.stage != last_stage[0]:
                    last_stage[0] = p.stage
                    self.stage.emit(job.id, p.stage)
                if p.stage != "denoise" or p.step < 1:
                    return
                eta = -1.0 if p.eta_s is None else float(p.eta_s)
                self.progress.emit(job.id, p.step, p.total, eta)
                img = _preview_image(p.preview)
                if img is not None:
                    self.preview.emit(job.id, img)
                self._jobs.progress(job.id, p.step, p.total)

            token.raise_if_cancelled()
            take_id = self._make_take(job, generator, on_progress, token)
        except Cancelled:
            if self._suspended(job.id):
                self._jobs.requeue(job.id)
                self.suspended.emit(job.id)
                return
            self._jobs.cancelled(job.id)
            self.cancelled.emit(job.id)
            return
        except OutOfMemoryError as exc:
            used = exc.profile or (
                job.memory_profile if job.memory_profile != "auto" else self._profile_in_use()
            )
            lighter = _lighter(used)
            msg = "The GPU ran out of memory" + (f" with the {used} memory profile" if used else "")
            if lighter:
                msg += f". Retry with the lighter {lighter} profile, or choose a smaller size."
            else:
                msg += (
                    ". There is no lighter memory profile; choose a smaller size or fewer frames."
                )
            self.release_model()
            self._fail(job, "oom", msg, lighter)
            return
        except ModelNotFoundError as exc:
            self._fail(job, "missing_model", f"The model files are missing: {exc}")
            return
        except MediaError as exc:
            role = (
                "reference voice clip"
                if req.voice and exc.path == req.voice
                else ("reference image" if req.image and exc.path == req.image else "input file")
            )
            self._fail(job, "media", f"The {role} {exc.path.name} cannot be read: {exc.problem}")
            return
        except InvalidRequestError as exc:
            self._fail(job, "invalid", f"The settings of this take cannot run: {exc}")
            return
        except (DiskFullError, OSError) as exc:
            if isinstance(exc, DiskFullError) or is_disk_full(exc):
                where = str(exc) if isinstance(exc, DiskFullError) else "disk full"
                self._fail(
                    job,
                    "disk_full",
                    f"The take could not be saved: {where}. Free some space and retry.",
                )
                return
            self._fail(job, "other", f"A file could not be written: {exc}")
            return
        except Exception as exc:
            if not is_disk_full(exc):  # a database write on a full disk (SQLite)
                raise
            self._fail(
                job,
                "disk_full",
                "The take could not be saved: disk full. Free some space and retry.",
            )
            return
        except EngineError as exc:
            self._fail(job, "other", str(exc))
            return
        self.finished.emit(job.id, take_id)

    def _profile_in_use(self) -> str | None:
        if self._generator is None:
            return None
        with contextlib.suppress(Exception):
            return self._generator.model_info().get("memory_profile")
        return None

    def _make_take(
        self,
        job: JobInfo,
        generator: Any,
        progress: Callable[[ProgressInfo], None],
        token: CancelToken,
    ) -> int:
        """Generate and render the take into a temporary folder, then store it."""
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        prefix = temp_prefix(TAKE_TEMP_PREFIX)
        with tempfile.TemporaryDirectory(dir=self._temp_dir, prefix=prefix) as tmp:
            take = generate_take(generator, job.request, Path(tmp), progress=progress, cancel=token)
            return self._takes.add_take(
                TakeFiles(take.video, take.audio, take.thumbnail),
                take.recipe,
                job_id=job.id,
                spec=job.spec(),
                voice_match=take.voice_match,
                voice_match_model=take.voice_match_model,
            )


def start_worker(worker: GenerationWorker, name: str = "generation") -> QThread:
    """Move ``worker`` to a new, started ``QThread``; the worker is deleted when it ends."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread
