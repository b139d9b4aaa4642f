"""SQLAlchemy 2.0 typed models of the identity library.

These classes are private to the library package: the public API (``repository.Library``)
returns frozen dataclasses, never ORM instances, so results cross threads safely.

Conventions that later tables (takes, jobs, projects) should follow:

* every column holding a media-store hash carries ``info={"media_ref": True}``; the garbage
  collector finds references through that flag, so a new table needs no collector change;
* timestamps are naive UTC (SQLite has no time zones) and are made aware on the way out;
* schema changes go through a new Alembic revision in ``migrations/versions``; the models
  describe the *head* schema and a test checks that both agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MEDIA_REF = {"media_ref": True}
SHA_LEN = 64


def utcnow() -> dt.datetime:
    """Naive UTC now, the form stored in the database."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


identity_tags = Table(
    "identity_tags",
    Base.metadata,
    Column(
        "identity_id",
        Integer,
        ForeignKey("identities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_identity_tags_tag_id", "tag_id"),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (stripped, single spaces, lower case); unique.
    name: Mapped[str] = mapped_column(String(64), unique=True)


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (
        CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),
        CheckConstraint(
            "(consent_given_by IS NULL) = (consent_date IS NULL)", name="consent_complete"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Case-folded, whitespace-collapsed name: identities are unique by this key.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    consent_given_by: Mapped[str | None] = mapped_column(String(200))
    consent_date: Mapped[dt.date | None] = mapped_column(Date)
    consent_scope: Mapped[str | None] = mapped_column(Text)
    consent_document_sha256: Mapped[str | None] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    tags: Mapped[list[Tag]] = relationship(secondary=identity_tags, order_by=Tag.name)
    images: Mapped[list[ReferenceImage]] = relationship(
        back_populates="identity",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ReferenceImage.id",
    )
    clips: Mapped[list[VoiceClip]] = relationship(
        back_populates="identity",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="VoiceClip.id",
    )


class ReferenceImage(Base):
    __tablename__ = "reference_images"
    __table_args__ = (
        UniqueConstraint("identity_id", "sha256"),
        # At most one default image per identity.
        Index(
            "uq_reference_images_default",
            "identity_id",
            unique=True,
            sqlite_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    extension: Mapped[str] = mapped_column(String(8))
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    faces_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    suggested_crop_json: Mapped[str | None] = mapped_column(Text)
    warnings_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    original_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    identity: Mapped[Identity] = relationship(back_populates="images")


class VoiceClip(Base):
    __tablename__ = "voice_clips"
    __table_args__ = (
        UniqueConstraint("identity_id", "sha256"),
        CheckConstraint("source IN ('imported', 'recorded')", name="source_known"),
        Index(
            "uq_voice_clips_default",
            "identity_id",
            unique=True,
            sqlite_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(SHA_LEN), info=MEDIA_REF)
    duration_s: Mapped[float] = mapped_column(Float)
    source_duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    loudness_lufs: Mapped[float] = mapped_column(Float)
    gain_db: Mapped[float] = mapped_column(Float)
    trim_start_s: Mapped[float] = mapped_column(Float)
    trim_end_s: Mapped[float] = mapped_column(Float)
    # The reference window generation encodes (seconds in the stored clip): the suggested one
    # unless the user moved it (Library.set_clip_window).
    best_start_s: Mapped[float] = mapped_column(Float)
    best_end_s: Mapped[float] = mapped_column(Float)
    clipping: Mapped[bool] = mapped_column(Boolean, default=False)
    noisy: Mapped[bool] = mapped_column(Boolean, default=False)
    noise_floor_db: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="imported")
    original_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    warnings_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Added in revision 0002: waveform peaks, one unsigned byte per bucket (value / 255).
    peaks: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Added in revision 0006: the window the import analysis suggested (NULL: same as best_*).
    suggested_start_s: Mapped[float | None] = mapped_column(Float)
    suggested_end_s: Mapped[float | None] = mapped_column(Float)

    identity: Mapped[Identity] = relationship(back_populates="clips")


def media_ref_columns(metadata: MetaData = Base.metadata) -> list[tuple[str, str]]:
    """(table, column) pairs of every column that references a media-store hash."""
    out = []
    for table in metadata.sorted_tables:
        for col in table.columns:
            if col.info.get("media_ref"):
                out.append((table.name, col.name))
    return out


# Generation tables (jobs, takes, projects) share this Base; importing them here makes
# ``Base.metadata`` complete for Alembic's comparison and for the media collector.
from . import models_generation as _models_generation  # noqa: E402, F401
