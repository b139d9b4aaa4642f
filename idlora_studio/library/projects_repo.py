"""Projects: a bin of takes and a single-track timeline of clips cut from them (Qt-free).

:class:`ProjectsRepository` follows the library's rules: every method opens its own session
and transaction and returns frozen dataclasses, so it may be called from any thread (the
GUI's timeline calls it through its database worker). Frames are counted at the take's frame
rate: a clip shows frames ``[in_frame, out_frame)`` of its take from ``position_frames`` on.

:meth:`ProjectsRepository.set_clips` replaces a whole timeline in one transaction; the
timeline's undo stack uses it to restore a snapshot. :meth:`ProjectsRepository.timeline_spec`
turns a project into an :class:`engine.export.TimelineSpec` for export and playback.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import LibraryError, SessionScopes
from .models import Identity, utcnow
from .models_generation import Project, ProjectBinEntry, Take, TimelineClip
from .values import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from engine.export import TimelineSpec

DEFAULT_PROJECT_NAME = "Untitled"
MAX_PROJECT_NAME = 200
MAX_FORM_CHARS = 1_000_000  # the Generate form of a project, as JSON


class ProjectNameTakenError(InvalidInputError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a project named {name!r} already exists")


class ProjectNotFoundError(NotFoundError):
    pass


class ClipNotFoundError(NotFoundError):
    pass


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ProjectSummary:
    id: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class BinItem:
    """A take in a project's bin, with what a bin row shows."""

    take_id: int
    position: int
    label: str
    num_frames: int
    fps: float
    width: int
    height: int
    video_path: Path
    audio_path: Path | None
    thumbnail_path: Path | None
    identity_name: str | None = None  # the person in the take (None: deleted or unknown)
    seed: int | None = None
    voice_match: float | None = None  # speaker similarity to the reference (None: not scored)


@dataclass(frozen=True)
class TimelineClipInfo:
    id: int
    take_id: int
    track: int
    position_frames: int
    in_frame: int
    out_frame: int

    @property
    def length_frames(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def end_frames(self) -> int:
        return self.position_frames + self.length_frames


@dataclass(frozen=True)
class ClipPlacement:
    """A clip to place (no id yet): what :meth:`ProjectsRepository.set_clips` takes."""

    take_id: int
    position_frames: int
    in_frame: int
    out_frame: int
    track: int = 0

    @classmethod
    def of(cls, clip: TimelineClipInfo) -> ClipPlacement:
        return cls(clip.take_id, clip.position_frames, clip.in_frame, clip.out_frame, clip.track)


@dataclass(frozen=True)
class ProjectDetail:
    id: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    bin: tuple[BinItem, ...]
    clips: tuple[TimelineClipInfo, ...]  # by track, position, id

    @property
    def duration_frames(self) -> int:
        return max((c.end_frames for c in self.clips), default=0)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def normalize_project_name(name: str) -> str:
    """The display form of a project name; raises :class:`InvalidInputError`."""
    if not isinstance(name, str):
        raise InvalidInputError("the project name must be text")
    display = " ".join(unicodedata.normalize("NFC", name).split())
    if not display:
        raise InvalidInputError("the project name must not be empty")
    if len(display) > MAX_PROJECT_NAME:
        raise InvalidInputError(f"the project name is longer than {MAX_PROJECT_NAME} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in display):
        raise InvalidInputError("the project name contains control characters")
    return display


def free_name(wanted: str, taken: set[str], suffix: str = "imported") -> str:
    """``wanted`` if no name in ``taken`` matches it case-insensitively, else
    ``"wanted (suffix)"``, ``"wanted (suffix 2)"``, ..."""
    folded = {t.casefold() for t in taken}
    if wanted.casefold() not in folded:
        return wanted
    n = 1
    while True:
        candidate = f"{wanted} ({suffix})" if n == 1 else f"{wanted} ({suffix} {n})"
        if candidate.casefold() not in folded:
            return candidate
        n += 1


class ProjectsRepository(SessionScopes):
    """Projects, their bins and timelines, on the library database. Thread-safe."""

    # ------------------------------------------------------------------ projects
    def create(self, name: str) -> int:
        """Create an empty project; raises :class:`ProjectNameTakenError` on a clash."""
        display = normalize_project_name(name)
        with self._write() as s:
            self._ensure_name_free(s, display)
            p = Project(name=display)
            s.add(p)
            try:
                s.flush()
            except IntegrityError as exc:
                raise ProjectNameTakenError(display) from exc
            return p.id

    def list_projects(self) -> list[ProjectSummary]:
        """Projects, most recently changed first."""
        with self._read() as s:
            rows = s.scalars(select(Project).order_by(Project.updated_at.desc(), Project.id.desc()))
            return [self._summary(p) for p in rows]

    def find(self, name_or_id: str | int) -> ProjectSummary | None:
        """A project by id (an int or digits) or by name (case-insensitive)."""
        with self._read() as s:
            p = None
            if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
                p = s.get(Project, int(name_or_id))
            if p is None and isinstance(name_or_id, str):
                key = " ".join(name_or_id.split()).casefold()
                for cand in s.scalars(select(Project)):
                    if cand.name.casefold() == key:
                        p = cand
                        break
            return self._summary(p) if p is not None else None

    def default_project(self) -> int:
        """The most recently changed project, creating "Untitled" when there is none."""
        projects = self.list_projects()
        if projects:
            return projects[0].id
        try:
            return self.create(DEFAULT_PROJECT_NAME)
        except ProjectNameTakenError:  # created by another thread meanwhile
            found = self.find(DEFAULT_PROJECT_NAME)
            assert found is not None
            return found.id

    def rename(self, project_id: int, name: str) -> None:
        display = normalize_project_name(name)
        with self._write() as s:
            p = self._project(s, project_id)
            self._ensure_name_free(s, display, exclude=project_id)
            p.name = display
            p.updated_at = utcnow()

    def generate_form(self, project_id: int) -> dict[str, Any]:
        """The Generate page's form as last saved for the project (``{}``: never saved, or
        unreadable, so the page starts from its defaults)."""
        with self._read() as s:
            raw = self._project(s, project_id).generate_form_json
        try:
            form = json.loads(raw or "{}")
        except ValueError:
            return {}
        return form if isinstance(form, dict) else {}

    def save_generate_form(self, project_id: int, form: dict[str, Any]) -> None:
        """Keep the Generate page's form for the project (a JSON object). Does not count as a
        change of the project (its ``updated_at`` stays)."""
        if not isinstance(form, dict):
            raise InvalidInputError("the Generate form must be a JSON object")
        try:
            text = json.dumps(form, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"the Generate form cannot be stored as JSON: {exc}") from exc
        if len(text) > MAX_FORM_CHARS:
            raise InvalidInputError(
                f"the Generate form is {len(text)} characters long; at most {MAX_FORM_CHARS} "
                "are kept"
            )
        with self._write() as s:
            self._project(s, project_id).generate_form_json = text

    def duplicate(self, project_id: int, name: str | None = None) -> int:
        """A new project with the same bin and timeline (the takes are shared, not copied),
        named ``name`` or "<name> (copy)" made unique; returns its id."""
        with self._write() as s:
            src = self._project(s, project_id)
            if name is None:
                display = free_name(src.name, set(s.scalars(select(Project.name))), "copy")
            else:
                display = normalize_project_name(name)
            self._ensure_name_free(s, display)
            copy = Project(name=display, generate_form_json=src.generate_form_json)
            s.add(copy)
            s.flush()
            bin_rows = s.scalars(
                select(ProjectBinEntry).where(ProjectBinEntry.project_id == project_id)
            ).all()
            for b in bin_rows:
                s.add(ProjectBinEntry(project_id=copy.id, take_id=b.take_id, position=b.position))
            clips = s.scalars(
                select(TimelineClip).where(TimelineClip.project_id == project_id)
            ).all()
            for c in clips:
                s.add(
                    TimelineClip(
                        project_id=copy.id,
                        take_id=c.take_id,
                        track=c.track,
                        position_frames=c.position_frames,
                        in_frame=c.in_frame,
                        out_frame=c.out_frame,
                    )
                )
            s.flush()
            return copy.id

    def delete(self, project_id: int) -> None:
        """Delete the project with its bin and timeline (never the takes)."""
        with self._write() as s:
            self._project(s, project_id)
            s.execute(delete(Project).where(Project.id == project_id))

    def get(self, project_id: int) -> ProjectDetail:
        with self._read() as s:
            p = self._project(s, project_id)
            bin_rows = s.execute(
                select(ProjectBinEntry.position, Take, Identity.name)
                .join(Take, Take.id == ProjectBinEntry.take_id)
                .outerjoin(Identity, Identity.id == Take.identity_id)
                .where(ProjectBinEntry.project_id == project_id)
                .order_by(ProjectBinEntry.position, ProjectBinEntry.take_id)
            ).all()
            clips = s.scalars(
                select(TimelineClip)
                .where(TimelineClip.project_id == project_id)
                .order_by(TimelineClip.track, TimelineClip.position_frames, TimelineClip.id)
            ).all()
            return ProjectDetail(
                id=p.id,
                name=p.name,
                created_at=_aware(p.created_at),
                updated_at=_aware(p.updated_at),
                bin=tuple(self._bin_item(pos, t, who) for pos, t, who in bin_rows),
                clips=tuple(self._clip_info(c) for c in clips),
            )

    # ------------------------------------------------------------------ bin
    def add_to_bin(self, project_id: int, take_id: int) -> None:
        """Append a take to the bin (no-op when it is there already)."""
        with self._write() as s:
            self._add_to_bin(s, project_id, take_id)

    def remove_from_bin(self, project_id: int, take_id: int) -> None:
        """Take a take out of the bin; refused while the project's timeline uses it."""
        with self._write() as s:
            p = self._project(s, project_id)
            used = s.scalar(
                select(func.count()).where(
                    TimelineClip.project_id == project_id, TimelineClip.take_id == take_id
                )
            )
            if used:
                raise InvalidInputError(
                    "this take is on the project's timeline; remove its clips first"
                )
            s.execute(
                delete(ProjectBinEntry).where(
                    ProjectBinEntry.project_id == project_id, ProjectBinEntry.take_id == take_id
                )
            )
            p.updated_at = utcnow()

    # ------------------------------------------------------------------ timeline
    def add_clip(
        self,
        project_id: int,
        take_id: int,
        *,
        position_frames: int | None = None,
        in_frame: int = 0,
        out_frame: int | None = None,
        track: int = 0,
    ) -> TimelineClipInfo:
        """Place (part of) a take on the timeline; ``position_frames`` None appends it at the
        end, ``out_frame`` None uses the whole take. The take joins the bin too."""
        with self._write() as s:
            self._add_to_bin(s, project_id, take_id)
            take = self._take(s, take_id)
            out = take.num_frames if out_frame is None else out_frame
            if position_frames is None:
                position_frames = self._end_frames(s, project_id, track)
            self._check_range(take, in_frame, out, position_frames)
            clip = TimelineClip(
                project_id=project_id,
                take_id=take_id,
                track=track,
                position_frames=position_frames,
                in_frame=in_frame,
                out_frame=out,
            )
            s.add(clip)
            s.flush()
            return self._clip_info(clip)

    def move_clip(self, clip_id: int, position_frames: int) -> TimelineClipInfo:
        with self._write() as s:
            clip = self._clip(s, clip_id)
            self._check_range(
                self._take(s, clip.take_id), clip.in_frame, clip.out_frame, position_frames
            )
            clip.position_frames = position_frames
            self._touch(s, clip.project_id)
            return self._clip_info(clip)

    def trim_clip(
        self, clip_id: int, in_frame: int, out_frame: int, *, position_frames: int | None = None
    ) -> TimelineClipInfo:
        """Set the clip's in/out points (and, trimming its head, its position)."""
        with self._write() as s:
            clip = self._clip(s, clip_id)
            pos = clip.position_frames if position_frames is None else position_frames
            self._check_range(self._take(s, clip.take_id), in_frame, out_frame, pos)
            clip.in_frame, clip.out_frame, clip.position_frames = in_frame, out_frame, pos
            self._touch(s, clip.project_id)
            return self._clip_info(clip)

    def remove_clip(self, clip_id: int) -> None:
        with self._write() as s:
            clip = self._clip(s, clip_id)
            project_id = clip.project_id
            s.delete(clip)
            self._touch(s, project_id)

    def set_clips(
        self, project_id: int, clips: Sequence[ClipPlacement | TimelineClipInfo]
    ) -> tuple[TimelineClipInfo, ...]:
        """Replace the whole timeline in one transaction (undo/redo restore snapshots)."""
        with self._write() as s:
            self._project(s, project_id)
            s.execute(delete(TimelineClip).where(TimelineClip.project_id == project_id))
            rows = []
            for c in clips:
                take = self._take(s, c.take_id)
                self._check_range(take, c.in_frame, c.out_frame, c.position_frames)
                self._add_to_bin(s, project_id, c.take_id)
                row = TimelineClip(
                    project_id=project_id,
                    take_id=c.take_id,
                    track=c.track,
                    position_frames=c.position_frames,
                    in_frame=c.in_frame,
                    out_frame=c.out_frame,
                )
                s.add(row)
                rows.append(row)
            s.flush()
            self._touch(s, project_id)
            return tuple(
                self._clip_info(r)
                for r in sorted(rows, key=lambda r: (r.track, r.position_frames, r.id))
            )

    def timeline_spec(
        self,
        project_id: int,
        *,
        track: int = 0,
        fps: float | None = None,
        width: int | None = None,
        height: int | None = None,
        sample_rate: int = 48_000,
    ) -> TimelineSpec:
        """The project's timeline as an export spec: take media resolved in the store (the
        take's WAV as the sound where it has one), recipes attached. Frame rate and size
        default to the first clip's take."""
        from engine.export import ClipSpec, TimelineSpec

        with self._read() as s:
            p = self._project(s, project_id)
            rows = s.execute(
                select(TimelineClip, Take)
                .join(Take, Take.id == TimelineClip.take_id)
                .where(TimelineClip.project_id == project_id, TimelineClip.track == track)
                .order_by(TimelineClip.position_frames, TimelineClip.id)
            ).all()
            name = p.name
        clips = []
        for clip, take in rows:
            clips.append(
                ClipSpec(
                    video_path=self.store.path(take.video_hash),
                    in_frame=clip.in_frame,
                    out_frame=clip.out_frame,
                    position_frames=clip.position_frames,
                    recipe=json.loads(take.recipe_json),
                    audio_path=self.store.path(take.audio_hash) if take.audio_hash else None,
                    label=take.label or f"take {take.id}",
                )
            )
        first = rows[0][1] if rows else None
        return TimelineSpec(
            fps=fps or (first.fps if first else 25.0),
            width=width or (first.width if first else 512),
            height=height or (first.height if first else 512),
            sample_rate=sample_rate,
            clips=tuple(clips),
            title=name,
        )

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _summary(p: Project) -> ProjectSummary:
        return ProjectSummary(p.id, p.name, _aware(p.created_at), _aware(p.updated_at))

    def _bin_item(self, position: int, t: Take, identity_name: str | None = None) -> BinItem:
        st = self.store
        return BinItem(
            take_id=t.id,
            position=position,
            label=t.label or f"take {t.id}",
            num_frames=t.num_frames,
            fps=t.fps,
            width=t.width,
            height=t.height,
            video_path=st.path(t.video_hash),
            audio_path=st.path(t.audio_hash) if t.audio_hash else None,
            thumbnail_path=st.path(t.thumbnail_hash) if t.thumbnail_hash else None,
            identity_name=identity_name,
            seed=t.seed,
            voice_match=t.voice_match,
        )

    @staticmethod
    def _clip_info(c: TimelineClip) -> TimelineClipInfo:
        return TimelineClipInfo(
            c.id, c.take_id, c.track, c.position_frames, c.in_frame, c.out_frame
        )

    @staticmethod
    def _ensure_name_free(s: Session, display: str, exclude: int | None = None) -> None:
        for pid, pname in s.execute(select(Project.id, Project.name)):
            if pid != exclude and pname.casefold() == display.casefold():
                raise ProjectNameTakenError(pname)

    @staticmethod
    def _project(s: Session, project_id: int) -> Project:
        p = s.get(Project, project_id)
        if p is None:
            raise ProjectNotFoundError(f"no project with id {project_id}")
        return p

    @staticmethod
    def _take(s: Session, take_id: int) -> Take:
        t = s.get(Take, take_id)
        if t is None:
            raise NotFoundError(f"no take with id {take_id}")
        return t

    @staticmethod
    def _clip(s: Session, clip_id: int) -> TimelineClip:
        c = s.get(TimelineClip, clip_id)
        if c is None:
            raise ClipNotFoundError(f"no timeline clip with id {clip_id}")
        return c

    @staticmethod
    def _touch(s: Session, project_id: int) -> None:
        s.execute(update(Project).where(Project.id == project_id).values(updated_at=utcnow()))

    def _add_to_bin(self, s: Session, project_id: int, take_id: int) -> None:
        self._project(s, project_id)
        self._take(s, take_id)
        present = s.get(ProjectBinEntry, (project_id, take_id))
        if present is None:
            last = s.scalar(
                select(func.max(ProjectBinEntry.position)).where(
                    ProjectBinEntry.project_id == project_id
                )
            )
            s.add(ProjectBinEntry(project_id=project_id, take_id=take_id, position=(last or 0) + 1))
            s.flush()
        self._touch(s, project_id)

    @staticmethod
    def _end_frames(s: Session, project_id: int, track: int) -> int:
        end = s.scalar(
            select(
                func.max(
                    TimelineClip.position_frames + TimelineClip.out_frame - TimelineClip.in_frame
                )
            ).where(TimelineClip.project_id == project_id, TimelineClip.track == track)
        )
        return int(end or 0)

    @staticmethod
    def _check_range(take: Take, in_frame: int, out_frame: int, position: int) -> None:
        if position < 0:
            raise InvalidInputError("a clip cannot start before the timeline")
        if in_frame < 0 or out_frame <= in_frame:
            raise InvalidInputError(
                f"a clip must show at least one frame (in {in_frame}, out {out_frame})"
            )
        if take.num_frames and out_frame > take.num_frames:
            raise InvalidInputError(
                f"take {take.id} has {take.num_frames} frames; it cannot end at {out_frame}"
            )


__all__ = [
    "BinItem",
    "ClipNotFoundError",
    "ClipPlacement",
    "LibraryError",
    "ProjectDetail",
    "ProjectNameTakenError",
    "ProjectNotFoundError",
    "ProjectSummary",
    "ProjectsRepository",
    "TimelineClipInfo",
    "free_name",
    "normalize_project_name",
]
