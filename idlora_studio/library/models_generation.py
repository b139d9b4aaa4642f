"""SQLAlchemy models of generation jobs, takes and projects (schema revision 0003).

They share :class:`idlora_studio.library.models.Base`, so Alembic's comparison and the media
garbage collector (which finds hash columns through ``info={"media_ref": True}``) see them;
``models.py`` imports this module at its end so that importing ``models`` is enough.

Deletion rules, chosen so that nothing a user made disappears by accident:

* deleting an identity, image or clip keeps the jobs and takes made from it
  (``identity_id``/``image_id``/``clip_id`` become NULL; the take's recipe still names the
  inputs and their hashes);
* deleting a take clears ``jobs.take_id`` (SET NULL) and removes it from project bins
  (CASCADE), but is **refused** while a timeline clip uses it (RESTRICT): the timeline is
  project data the user edited; they remove the clip first (the UI asks);
* deleting a project removes its bin entries and timeline clips (CASCADE), never the takes.

``takes.job_id`` is a plain integer (no foreign key): the job that made a take may be removed
from the queue list while the take stays, and a foreign key both ways would be a cycle.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import MEDIA_REF, SHA_LEN, Base, utcnow

JOB_STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
ERROR_KINDS = ("oom", "missing_model", "media", "disk_full", "invalid", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Job(Base):
    """One queued or past generation (a GenerationRequest plus where/how to run it)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state_known"),
        CheckConstraint(
            f"error_kind IS NULL OR {_in('error_kind', ERROR_KINDS)}", name="kind_known"
        ),
        Index("ix_jobs_state_position", "state", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    # Queue order: smaller runs first (only meaningful among queued jobs).
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    # engine.api.GenerationRequest.to_dict() as JSON.
    request_json: Mapped[str] = mapped_column(Text)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"), index=True
    )
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_images.id", ondelete="SET NULL")
    )
    clip_id: Mapped[int | None] = mapped_column(ForeignKey("voice_clips.id", ondelete="SET NULL"))
    # Registry id of the model set ("tiny" = the built-in test model).
    model_set: Mapped[str] = mapped_column(String(100))
    lora_path: Mapped[str | None] = mapped_column(Text)
    lora_strength: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0")
    memory_profile: Mapped[str] = mapped_column(String(32), default="auto", server_default="auto")
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(16))
    # After an out-of-memory failure: the lighter memory profile a retry should use.
    suggested_profile: Mapped[str | None] = mapped_column(String(32))
    progress_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    take_id: Mapped[int | None] = mapped_column(ForeignKey("takes.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Take(Base):
    """A finished generation: MP4 + WAV + thumbnail in the media store, and its recipe."""

    __tablename__ = "takes"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"), index=True
    )
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_images.id", ondelete="SET NULL")
    )
    clip_id: Mapped[int | None] = mapped_column(ForeignKey("voice_clips.id", ondelete="SET NULL"))
    video_hash: Mapped[str] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    audio_hash: Mapped[str | None] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    thumbnail_hash: Mapped[str | None] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    # engine.recipe.build_recipe(...) as JSON: inputs, prompt, seed, scales, versions, timings.
    recipe_json: Mapped[str] = mapped_column(Text)
    model_set: Mapped[str] = mapped_column(String(100), default="", server_default="")
    lora_path: Mapped[str | None] = mapped_column(Text)
    memory_profile: Mapped[str] = mapped_column(String(32), default="auto", server_default="auto")
    seed: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    num_frames: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    timings_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    label: Mapped[str] = mapped_column(String(200), default="", server_default="")
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Revision 0004: speaker similarity of the take's voice to its reference clip (cosine of
    # speaker embeddings; NULL = not computed) and the embedding model that produced it.
    voice_match: Mapped[float | None] = mapped_column(Float)
    voice_match_model: Mapped[str | None] = mapped_column(String(64))


class Project(Base):
    """A timeline project. The default "Untitled" project is created lazily by its repository."""

    __tablename__ = "projects"
    __table_args__ = (CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Revision 0005: the Generate page's form for this project (JSON object; "{}": defaults).
    generate_form_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")


class ProjectBinEntry(Base):
    """A take listed in a project's bin (ordered by ``position``)."""

    __tablename__ = "project_bin"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    take_id: Mapped[int] = mapped_column(
        ForeignKey("takes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class TimelineClip(Base):
    """A take placed on a project's timeline: frames ``[in_frame, out_frame)`` of the take
    shown from ``position_frames`` on ``track``. The take cannot be deleted while used here."""

    __tablename__ = "timeline_clips"
    __table_args__ = (
        CheckConstraint("in_frame >= 0", name="in_not_negative"),
        CheckConstraint("out_frame > in_frame", name="range_not_empty"),
        CheckConstraint("position_frames >= 0", name="position_not_negative"),
        Index("ix_timeline_clips_project_track", "project_id", "track", "position_frames"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    take_id: Mapped[int] = mapped_column(ForeignKey("takes.id", ondelete="RESTRICT"), index=True)
    track: Mapped[int] = mapped_column(Integer, default=0)
    position_frames: Mapped[int] = mapped_column(Integer)
    in_frame: Mapped[int] = mapped_column(Integer)
    out_frame: Mapped[int] = mapped_column(Integer)
