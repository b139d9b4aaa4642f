"""Generation jobs and takes in the library database.

:class:`JobsRepository` is the persisted queue (one row per job, ordered by ``position``);
:class:`TakesRepository` stores finished generations (MP4, WAV, thumbnail in the media store,
the recipe as JSON). Like :class:`~idlora_studio.library.repository.Library`, every method
opens its own session and transaction and returns frozen dataclasses, so both may be used from
any thread (the generation worker writes job progress from its own thread; the GUI's job queue
calls the rest through a serial database runner).

Job life cycle::

    queued --mark_running--> running --finished--> finished
       |                        |------failed----> failed      --retry--> queued
       |--cancel_queued-->      |------cancelled-> cancelled   --retry--> queued
       cancelled                |------requeue---> queued (the Studio quit while it ran)
                                (crash) recover_after_crash -> interrupted --retry--> queued
                                                                           --resume-> queued

State changes are conditional updates (``WHERE state = ...``), so a job cancelled in the queue
while the worker picks it up is never run, and a finished job is never marked failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

from engine.api import GenerationRequest

from .db import SessionScopes
from .models import utcnow
from .models_generation import ERROR_KINDS, JOB_STATES, Job, ProjectBinEntry, Take, TimelineClip
from .store import MediaStore

#: Progress rows are written at most this often per job (plus the first and last step).
PROGRESS_WRITE_INTERVAL_S = 1.0
INTERRUPTED_MESSAGE = "The Studio stopped while this job was running. Retry it to run it again."


class JobNotFoundError(LookupError):
    pass


class JobStateError(ValueError):
    """The job is not in a state that allows this action (e.g. removing a running job)."""


class TakeNotFoundError(LookupError):
    pass


class TakeNotRunnableError(ValueError):
    """The take cannot be made again here (an imported take whose model set is not installed)."""


class TakeInUseError(ValueError):
    """The take is placed on a project's timeline; remove it there first."""


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _summary(request: GenerationRequest, limit: int = 80) -> str:
    text = request.parts.speech or request.parts.visual or request.full_prompt
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class JobInfo:
    """A job as stored. ``request`` is the engine request to run."""

    id: int
    state: str
    position: int
    request: GenerationRequest
    model_set: str
    lora_path: Path | None
    lora_strength: float
    memory_profile: str
    identity_id: int | None
    image_id: int | None
    clip_id: int | None
    error: str | None
    error_kind: str | None
    suggested_profile: str | None
    progress_step: int
    progress_total: int
    take_id: int | None
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # The voice match of the take this job made (None: no take, or not scored).
    voice_match: float | None = None

    @property
    def prompt_summary(self) -> str:
        """One line for lists: the speech (else the visual prompt), shortened."""
        return _summary(self.request)

    def spec(self) -> JobSpec:
        """Where and how the job runs (what a rerun or its take records)."""
        return JobSpec(
            model_set=self.model_set,
            lora_path=self.lora_path,
            lora_strength=self.lora_strength,
            memory_profile=self.memory_profile,
            identity_id=self.identity_id,
            image_id=self.image_id,
            clip_id=self.clip_id,
        )

    @property
    def progress_fraction(self) -> float:
        if self.state == "finished":
            return 1.0
        return self.progress_step / self.progress_total if self.progress_total else 0.0

    @property
    def retryable(self) -> bool:
        return self.state in ("failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class TakeInfo:
    """A stored take with its files resolved to paths in the media store."""

    id: int
    created_at: dt.datetime
    job_id: int | None
    identity_id: int | None
    image_id: int | None
    clip_id: int | None
    video_hash: str
    audio_hash: str | None
    thumbnail_hash: str | None
    video_path: Path
    audio_path: Path | None
    thumbnail_path: Path | None
    recipe: dict[str, Any]
    model_set: str
    lora_path: Path | None
    memory_profile: str
    seed: int
    width: int
    height: int
    num_frames: int
    fps: float
    duration_s: float
    timings: dict[str, float]
    label: str
    notes: str
    # Speaker similarity of the take's voice to its reference clip (None: not computed) and
    # the embedding model that produced it (see engine.voice.similarity).
    voice_match: float | None = None
    voice_match_model: str | None = None

    @property
    def request(self) -> GenerationRequest:
        """The request as given when the take was made (unsnapped)."""
        return GenerationRequest.from_dict(self.recipe["request"])

    @property
    def prompt_summary(self) -> str:
        return _summary(self.request)


@dataclass(frozen=True)
class JobSpec:
    """Where and how to run a request: model set, LoRA, memory profile, library inputs."""

    model_set: str = "tiny"
    lora_path: Path | str | None = None
    lora_strength: float = 1.0
    memory_profile: str = "auto"
    identity_id: int | None = None
    image_id: int | None = None
    clip_id: int | None = None


def _check_job(requests: Sequence[GenerationRequest], spec: JobSpec) -> None:
    """Refuse what cannot run before it is queued: parameters outside :mod:`engine.limits`
    or not finite, an unknown memory profile (raises ``InvalidRequestError`` naming it)."""
    from engine.api import InvalidRequestError
    from engine.limits import GENERATION, check_request
    from engine.memory import PROFILES

    for req in requests:
        check_request(req)
    GENERATION["lora_strength"].check(spec.lora_strength, "LoRA strength")
    if spec.memory_profile != "auto" and spec.memory_profile not in PROFILES:
        raise InvalidRequestError(
            f"unknown memory profile {spec.memory_profile!r}; use auto or {', '.join(PROFILES)}"
        )


# ----------------------------------------------------------------------------- base
class JobsRepository(SessionScopes):
    """The persisted generation queue. Thread-safe; one session per call."""

    def __init__(self, engine: Engine, store: MediaStore | None = None) -> None:
        super().__init__(engine, store)
        self._progress_lock = threading.Lock()
        self._progress_written: dict[int, float] = {}

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _info(j: Job, voice_match: float | None = None) -> JobInfo:
        return JobInfo(
            id=j.id,
            state=j.state,
            position=j.position,
            request=GenerationRequest.from_dict(json.loads(j.request_json)),
            model_set=j.model_set,
            lora_path=Path(j.lora_path) if j.lora_path else None,
            lora_strength=j.lora_strength,
            memory_profile=j.memory_profile,
            identity_id=j.identity_id,
            image_id=j.image_id,
            clip_id=j.clip_id,
            error=j.error,
            error_kind=j.error_kind,
            suggested_profile=j.suggested_profile,
            progress_step=j.progress_step,
            progress_total=j.progress_total,
            take_id=j.take_id,
            attempts=j.attempts,
            created_at=_aware(j.created_at),  # type: ignore[arg-type]
            updated_at=_aware(j.updated_at),  # type: ignore[arg-type]
            started_at=_aware(j.started_at),
            finished_at=_aware(j.finished_at),
            voice_match=voice_match,
        )

    def get(self, job_id: int) -> JobInfo:
        with self._read() as s:
            j = s.get(Job, job_id)
            if j is None:
                raise JobNotFoundError(f"job {job_id} does not exist")
            take = s.get(Take, j.take_id) if j.take_id is not None else None
            return self._info(j, take.voice_match if take is not None else None)

    def list_jobs(self, states: Iterable[str] | None = None) -> list[JobInfo]:
        """Jobs in queue order (position, then id); optionally only these states."""
        q = (
            select(Job, Take.voice_match)
            .outerjoin(Take, Take.id == Job.take_id)
            .order_by(Job.position, Job.id)
        )
        if states is not None:
            q = q.where(Job.state.in_(list(states)))
        with self._read() as s:
            return [self._info(j, score) for j, score in s.execute(q)]

    def queued_ids(self) -> list[int]:
        with self._read() as s:
            q = select(Job.id).where(Job.state == "queued").order_by(Job.position, Job.id)
            return list(s.scalars(q))

    def next_queued(self) -> JobInfo | None:
        ids = self.queued_ids()
        return self.get(ids[0]) if ids else None

    # ------------------------------------------------------------------ queueing
    def enqueue(
        self, requests: GenerationRequest | Sequence[GenerationRequest], spec: JobSpec | None = None
    ) -> list[int]:
        """Append ``requests`` to the end of the queue, in order; returns their job ids."""
        if isinstance(requests, GenerationRequest):
            requests = [requests]
        spec = spec or JobSpec()
        _check_job(requests, spec)
        ids: list[int] = []
        with self._write() as s:
            pos = (s.scalar(select(func.max(Job.position))) or 0) + 1
            for req in requests:
                job = Job(
                    position=pos,
                    state="queued",
                    request_json=json.dumps(req.to_dict()),
                    identity_id=spec.identity_id,
                    image_id=spec.image_id,
                    clip_id=spec.clip_id,
                    model_set=spec.model_set,
                    lora_path=str(spec.lora_path) if spec.lora_path else None,
                    lora_strength=float(spec.lora_strength),
                    memory_profile=spec.memory_profile,
                )
                s.add(job)
                s.flush()
                ids.append(job.id)
                pos += 1
        return ids

    def reorder(self, job_id: int, new_index: int) -> list[int]:
        """Move a queued job to ``new_index`` among the queued jobs (clamped); returns the
        queued ids in their new order. Other jobs keep their slots."""
        return self._move(job_id, lambda ids: new_index)

    def move_before(self, job_id: int, before_id: int | None) -> list[int]:
        """Move a queued job just before the queued job ``before_id`` (None: to the end).

        Relative placement, so it means the same whichever job the worker picked up
        meanwhile. Returns the queued ids in their new order."""
        return self._move(
            job_id, lambda ids: ids.index(before_id) if before_id in ids else len(ids)
        )

    def _move(self, job_id: int, index_in: Callable[[list[int]], int]) -> list[int]:
        # One write transaction: the worker cannot take a job between the read and the write.
        with self._write() as s:
            rows = list(
                s.execute(
                    select(Job.id, Job.position)
                    .where(Job.state == "queued")
                    .order_by(Job.position, Job.id)
                )
            )
            ids = [r.id for r in rows]
            if job_id not in ids:
                raise JobStateError(f"job {job_id} is not queued; only queued jobs can move")
            slots = sorted(r.position for r in rows)
            ids.remove(job_id)
            ids.insert(max(0, min(index_in(ids), len(ids))), job_id)
            for jid, pos in zip(ids, slots, strict=True):
                s.execute(update(Job).where(Job.id == jid).values(position=pos))
            return ids

    def remove(self, job_id: int) -> None:
        """Delete a job that is not running (queued, or finished/failed/... history)."""
        with self._write() as s:
            j = s.get(Job, job_id)
            if j is None:
                raise JobNotFoundError(f"job {job_id} does not exist")
            if j.state == "running":
                raise JobStateError("a running job cannot be removed; cancel it first")
            s.delete(j)

    def retry(
        self, job_id: int, memory_profile: str | None = None, *, not_running: bool = False
    ) -> JobInfo:
        """Put a failed/cancelled/interrupted job back at the end of the queue.

        ``not_running``: the caller knows no worker runs this job, so a row still marked
        'running' (its failure could not be written: the disk was full) is retried too."""
        ended = ("failed", "cancelled", "interrupted") + (("running",) if not_running else ())
        with self._write() as s:
            j = s.get(Job, job_id)
            if j is None:
                raise JobNotFoundError(f"job {job_id} does not exist")
            if j.state not in ended:
                raise JobStateError(f"job {job_id} is {j.state}; only ended jobs can be retried")
            j.position = (s.scalar(select(func.max(Job.position))) or 0) + 1
            j.state = "queued"
            j.error = j.error_kind = j.suggested_profile = None
            j.progress_step = j.progress_total = 0
            j.started_at = j.finished_at = None
            if memory_profile:
                j.memory_profile = memory_profile
            j.updated_at = utcnow()
            s.flush()
            return self._info(j)

    def requeue(self, job_id: int) -> bool:
        """running -> queued in its old place (the Studio quit while it ran and will offer it
        again on the next start); progress starts over. False if it was not running."""
        self._ended(job_id)
        return self._transition(
            job_id,
            ("running",),
            state="queued",
            progress_step=0,
            progress_total=0,
            started_at=None,
        )

    def resume(self, job_ids: Iterable[int]) -> list[int]:
        """Interrupted jobs -> queued in their old places (not at the end, unlike
        :meth:`retry`); returns the ids that were resumed."""
        done = []
        for job_id in job_ids:
            if self._transition(
                job_id,
                ("interrupted",),
                state="queued",
                error=None,
                progress_step=0,
                progress_total=0,
                started_at=None,
                finished_at=None,
            ):
                done.append(job_id)
        return done

    def recover_after_crash(self) -> list[int]:
        """Jobs left 'running' by a previous process become 'interrupted'; returns their ids.

        Call once at start-up, before any worker runs. A read-only library is left as it is
        (nothing runs there)."""
        if self.read_only:
            return []
        with self._write() as s:
            ids = list(s.scalars(select(Job.id).where(Job.state == "running")))
            if ids:
                s.execute(
                    update(Job)
                    .where(Job.id.in_(ids))
                    .values(state="interrupted", error=INTERRUPTED_MESSAGE, updated_at=utcnow())
                )
            return ids

    # ------------------------------------------------------------------ life cycle
    def _transition(self, job_id: int, from_states: tuple[str, ...], **values: Any) -> bool:
        values.setdefault("updated_at", utcnow())
        with self._write() as s:
            res = s.execute(
                update(Job).where(Job.id == job_id, Job.state.in_(from_states)).values(**values)
            )
            return res.rowcount == 1  # type: ignore[attr-defined]

    def mark_running(self, job_id: int) -> bool:
        """queued -> running (attempts + 1). False if the job is no longer queued."""
        now = utcnow()
        with self._write() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == "queued")
                .values(
                    state="running",
                    started_at=now,
                    updated_at=now,
                    attempts=Job.attempts + 1,
                    progress_step=0,
                    progress_total=0,
                )
            )
            return res.rowcount == 1  # type: ignore[attr-defined]

    def progress(self, job_id: int, step: int, total: int, *, force: bool = False) -> bool:
        """Record progress of a running job; writes at most every
        :data:`PROGRESS_WRITE_INTERVAL_S` (always the first and last step). True if written."""
        now = time.monotonic()
        with self._progress_lock:
            last = self._progress_written.get(job_id)
            due = force or last is None or step >= total or now - last >= PROGRESS_WRITE_INTERVAL_S
            if not due:
                return False
            self._progress_written[job_id] = now
        self._transition(job_id, ("running",), progress_step=step, progress_total=total)
        return True

    def _ended(self, job_id: int) -> None:
        with self._progress_lock:
            self._progress_written.pop(job_id, None)

    def finished(self, job_id: int, take_id: int) -> bool:
        self._ended(job_id)
        return self._transition(
            job_id, ("running",), state="finished", take_id=take_id, finished_at=utcnow()
        )

    def failed(
        self, job_id: int, kind: str, message: str, *, suggested_profile: str | None = None
    ) -> bool:
        if kind not in ERROR_KINDS:
            kind = "other"
        self._ended(job_id)
        return self._transition(
            job_id,
            ("running", "queued"),
            state="failed",
            error_kind=kind,
            error=message,
            suggested_profile=suggested_profile,
            finished_at=utcnow(),
        )

    def cancelled(self, job_id: int) -> bool:
        """A running (or still queued) job -> cancelled."""
        self._ended(job_id)
        return self._transition(
            job_id, ("running", "queued"), state="cancelled", finished_at=utcnow()
        )

    def cancel_queued(self, job_id: int) -> bool:
        """queued -> cancelled; False if the job already started or ended."""
        return self._transition(job_id, ("queued",), state="cancelled", finished_at=utcnow())

    def set_state(self, job_id: int, state: str) -> None:
        """Force a state (tests and repair tools only)."""
        if state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}")
        with self._write() as s:
            s.execute(update(Job).where(Job.id == job_id).values(state=state, updated_at=utcnow()))


# ----------------------------------------------------------------------------- takes
@dataclass(frozen=True)
class TakeFiles:
    """Files of a finished generation, written by the worker to a temporary folder."""

    video: Path
    audio: Path | None = None
    thumbnail: Path | None = None


class TakesRepository(SessionScopes):
    """Finished takes: media in the content-addressed store, rows in ``takes``."""

    def __init__(self, engine: Engine, store: MediaStore) -> None:
        super().__init__(engine, store)
        self.store: MediaStore = store

    def _info(self, t: Take) -> TakeInfo:
        st = self.store
        return TakeInfo(
            id=t.id,
            created_at=_aware(t.created_at),  # type: ignore[arg-type]
            job_id=t.job_id,
            identity_id=t.identity_id,
            image_id=t.image_id,
            clip_id=t.clip_id,
            video_hash=t.video_hash,
            audio_hash=t.audio_hash,
            thumbnail_hash=t.thumbnail_hash,
            video_path=st.path(t.video_hash),
            audio_path=st.path(t.audio_hash) if t.audio_hash else None,
            thumbnail_path=st.path(t.thumbnail_hash) if t.thumbnail_hash else None,
            recipe=json.loads(t.recipe_json),
            model_set=t.model_set,
            lora_path=Path(t.lora_path) if t.lora_path else None,
            memory_profile=t.memory_profile,
            seed=t.seed,
            width=t.width,
            height=t.height,
            num_frames=t.num_frames,
            fps=t.fps,
            duration_s=t.duration_s,
            timings=json.loads(t.timings_json),
            label=t.label,
            notes=t.notes,
            voice_match=t.voice_match,
            voice_match_model=t.voice_match_model,
        )

    def add_take(
        self,
        files: TakeFiles,
        recipe: dict[str, Any],
        *,
        job_id: int | None = None,
        spec: JobSpec | None = None,
        label: str = "",
        voice_match: float | None = None,
        voice_match_model: str | None = None,
    ) -> int:
        """Store the files and the take row; with ``job_id`` the job becomes 'finished' in the
        same transaction. Returns the take id. ``voice_match`` is the take's speaker
        similarity to its reference clip, stored with the model that computed it.

        Files go to the media store before the row commits, under the store's writer lock, so
        a crash leaves at worst unreferenced files (collected later) and never a take row
        without its media. Width, height, frames, fps and duration come from the recipe's
        ``output`` section (what was written)."""
        spec = spec or JobSpec()
        out = recipe.get("output") or {}
        effective = recipe.get("effective") or {}
        with self.store.writing():
            video = self.store.put_file(files.video)
            audio = self.store.put_file(files.audio) if files.audio else None
            thumb = self.store.put_file(files.thumbnail) if files.thumbnail else None
            recipe = dict(recipe)
            # Point the recipe at the stored file (its name in the temp folder is meaningless).
            recipe["output"] = {**out, "file": video, "sha256": video}
            with self._write() as s:
                take = Take(
                    job_id=job_id,
                    identity_id=spec.identity_id,
                    image_id=spec.image_id,
                    clip_id=spec.clip_id,
                    video_hash=video,
                    audio_hash=audio,
                    thumbnail_hash=thumb,
                    recipe_json=json.dumps(recipe),
                    model_set=spec.model_set,
                    lora_path=str(spec.lora_path) if spec.lora_path else None,
                    memory_profile=spec.memory_profile,
                    seed=int(effective.get("seed", recipe.get("request", {}).get("seed", 0))),
                    width=int(out.get("width", 0)),
                    height=int(out.get("height", 0)),
                    num_frames=int(out.get("num_frames", 0)),
                    fps=float(out.get("fps", 0.0)),
                    duration_s=float(out.get("duration_s", 0.0)),
                    timings_json=json.dumps(recipe.get("timings") or {}),
                    label=label,
                    voice_match=voice_match,
                    voice_match_model=voice_match_model if voice_match is not None else None,
                )
                s.add(take)
                s.flush()
                if job_id is not None:
                    s.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(
                            state="finished",
                            take_id=take.id,
                            finished_at=utcnow(),
                            updated_at=utcnow(),
                        )
                    )
                return take.id

    def list_takes(self, identity_id: int | None = None) -> list[TakeInfo]:
        """Takes, newest first; optionally of one identity."""
        q = select(Take).order_by(Take.created_at.desc(), Take.id.desc())
        if identity_id is not None:
            q = q.where(Take.identity_id == identity_id)
        with self._read() as s:
            return [self._info(t) for t in s.scalars(q)]

    def get_take(self, take_id: int) -> TakeInfo:
        with self._read() as s:
            t = s.get(Take, take_id)
            if t is None:
                raise TakeNotFoundError(f"take {take_id} does not exist")
            return self._info(t)

    def recipe(self, take_id: int) -> dict[str, Any]:
        return self.get_take(take_id).recipe

    def update_take(self, take_id: int, *, label: str | None = None, notes: str | None = None):  # noqa: ANN201
        values = {k: v for k, v in (("label", label), ("notes", notes)) if v is not None}
        if values:
            with self._write() as s:
                s.execute(update(Take).where(Take.id == take_id).values(**values))

    def set_voice_match(self, take_id: int, score: float | None, model: str | None) -> None:
        """Store (or clear, with None) a take's speaker similarity and the model behind it."""
        with self._write() as s:
            found = s.execute(
                update(Take)
                .where(Take.id == take_id)
                .values(voice_match=score, voice_match_model=model if score is not None else None)
            ).rowcount
        if not found:
            raise TakeNotFoundError(f"take {take_id} does not exist")

    def delete_take(self, take_id: int) -> None:
        """Delete the take and free its media; refused while a timeline uses it."""
        with self._write() as s:
            t = s.get(Take, take_id)
            if t is None:
                raise TakeNotFoundError(f"take {take_id} does not exist")
            used = s.scalar(select(func.count()).where(TimelineClip.take_id == take_id))
            if used:
                raise TakeInUseError(
                    "This take is used on a project timeline; remove it from the timeline first."
                )
            media = [t.video_hash, t.audio_hash, t.thumbnail_hash]
            s.execute(delete(ProjectBinEntry).where(ProjectBinEntry.take_id == take_id))
            s.delete(t)
        self._collect([m for m in media if m])

    def _collect(self, candidates: list[str]) -> None:
        from .models import Base, media_ref_columns

        with self.store.collecting(blocking=True):
            keep: set[str] = set()
            with self._read() as s:
                for table, column in media_ref_columns():
                    col = Base.metadata.tables[table].c[column]
                    keep.update(s.scalars(select(col).where(col.in_(candidates))))
            self.store.collect(keep, candidates=candidates)

    # ------------------------------------------------------------------ again
    def vary(self, take_id: int, seed: int | None = None) -> GenerationRequest:
        """The take's request with a new seed (random when None), everything else the same."""
        req = self.get_take(take_id).request
        if seed is None:
            import secrets

            seed = secrets.randbelow(2**31 - 1)
            if seed == req.seed:
                seed += 1
        return dataclasses.replace(req, seed=int(seed))

    def rerun_spec(self, take_id: int) -> tuple[GenerationRequest, JobSpec]:
        """What :meth:`rerun` enqueues: the same request on the same model set and LoRA."""
        t = self.get_take(take_id)
        if not t.model_set:
            imported = t.recipe.get("imported_from") or {}
            origin = imported.get("model_set") or "unknown"
            if imported.get("lora_path"):
                lora = str(imported["lora_path"]).replace("\\", "/").rsplit("/", 1)[-1]
                what = f"its own LoRA file, which this machine does not have ({origin} with {lora})"
            else:
                what = f"a model set that is not installed here ({origin})"
            raise TakeNotRunnableError(
                f"This take came from another Studio and ran with {what}; "
                "queue it from the Generate page with one of yours."
            )
        model = t.recipe.get("model") or {}
        spec = JobSpec(
            model_set=t.model_set,
            lora_path=t.lora_path,
            lora_strength=float(model.get("lora_strength") or t.request.lora_strength or 1.0),
            memory_profile=t.memory_profile,
            identity_id=t.identity_id,
            image_id=t.image_id,
            clip_id=t.clip_id,
        )
        return t.request, spec

    def rerun(self, take_id: int, jobs: JobsRepository, seed: int | None = None) -> int:
        """Queue the take's recipe again (same seed unless ``seed``); returns the job id."""
        req, spec = self.rerun_spec(take_id)
        if seed is not None:
            req = dataclasses.replace(req, seed=int(seed))
        return jobs.enqueue(req, spec)[0]
