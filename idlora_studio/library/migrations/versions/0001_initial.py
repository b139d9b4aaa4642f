"""Initial library schema: identities, tags, reference images, voice clips.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("consent_given_by", sa.String(200), nullable=True),
        sa.Column("consent_date", sa.Date(), nullable=True),
        sa.Column("consent_scope", sa.Text(), nullable=True),
        sa.Column("consent_document_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(trim(name)) > 0", name=op.f("ck_identities_name_not_blank")),
        sa.CheckConstraint(
            "(consent_given_by IS NULL) = (consent_date IS NULL)",
            name=op.f("ck_identities_consent_complete"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("name_key", name=op.f("uq_identities_name_key")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "identity_tags",
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_tags_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_identity_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("identity_id", "tag_id", name=op.f("pk_identity_tags")),
    )
    op.create_index("ix_identity_tags_tag_id", "identity_tags", ["tag_id"])

    op.create_table(
        "reference_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("extension", sa.String(8), nullable=False),
        sa.Column("thumbnail_sha256", sa.String(64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("face_count", sa.Integer(), nullable=False),
        sa.Column("faces_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("suggested_crop_json", sa.Text(), nullable=True),
        sa.Column("warnings_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("original_name", sa.String(255), server_default="", nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_reference_images_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_images")),
        sa.UniqueConstraint(
            "identity_id", "sha256", name=op.f("uq_reference_images_identity_id_sha256")
        ),
    )
    op.create_index(op.f("ix_reference_images_identity_id"), "reference_images", ["identity_id"])
    op.create_index(
        "uq_reference_images_default",
        "reference_images",
        ["identity_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
    )

    op.create_table(
        "voice_clips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("source_duration_s", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("loudness_lufs", sa.Float(), nullable=False),
        sa.Column("gain_db", sa.Float(), nullable=False),
        sa.Column("trim_start_s", sa.Float(), nullable=False),
        sa.Column("trim_end_s", sa.Float(), nullable=False),
        sa.Column("best_start_s", sa.Float(), nullable=False),
        sa.Column("best_end_s", sa.Float(), nullable=False),
        sa.Column("clipping", sa.Boolean(), nullable=False),
        sa.Column("noisy", sa.Boolean(), nullable=False),
        sa.Column("noise_floor_db", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("original_name", sa.String(255), server_default="", nullable=False),
        sa.Column("warnings_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "source IN ('imported', 'recorded')", name=op.f("ck_voice_clips_source_known")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_voice_clips_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_clips")),
        sa.UniqueConstraint(
            "identity_id", "sha256", name=op.f("uq_voice_clips_identity_id_sha256")
        ),
    )
    op.create_index(op.f("ix_voice_clips_identity_id"), "voice_clips", ["identity_id"])
    op.create_index(
        "uq_voice_clips_default",
        "voice_clips",
        ["identity_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_table("voice_clips")
    op.drop_table("reference_images")
    op.drop_table("identity_tags")
    op.drop_table("tags")
    op.drop_table("identities")
