"""Generation jobs, takes, projects, project bins and timeline clips.

New tables only; existing rows are untouched. See ``models_generation.py`` for the deletion
rules (a take used on a timeline cannot be deleted: RESTRICT).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATES = "'queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted'"
_KINDS = "'oom', 'missing_model', 'media', 'disk_full', 'invalid', 'other'"


def upgrade() -> None:
    op.create_table(
        "takes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("video_hash", sa.String(64), nullable=False),
        sa.Column("audio_hash", sa.String(64), nullable=True),
        sa.Column("thumbnail_hash", sa.String(64), nullable=True),
        sa.Column("recipe_json", sa.Text(), nullable=False),
        sa.Column("model_set", sa.String(100), server_default="", nullable=False),
        sa.Column("lora_path", sa.Text(), nullable=True),
        sa.Column("memory_profile", sa.String(32), server_default="auto", nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("num_frames", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("timings_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("label", sa.String(200), server_default="", nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_takes_identity_id_identities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["reference_images.id"],
            name=op.f("fk_takes_image_id_reference_images"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["clip_id"],
            ["voice_clips.id"],
            name=op.f("fk_takes_clip_id_voice_clips"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takes")),
    )
    op.create_index(op.f("ix_takes_job_id"), "takes", ["job_id"])
    op.create_index(op.f("ix_takes_identity_id"), "takes", ["identity_id"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("model_set", sa.String(100), nullable=False),
        sa.Column("lora_path", sa.Text(), nullable=True),
        sa.Column("lora_strength", sa.Float(), server_default="1.0", nullable=False),
        sa.Column("memory_profile", sa.String(32), server_default="auto", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(16), nullable=True),
        sa.Column("suggested_profile", sa.String(32), nullable=True),
        sa.Column("progress_step", sa.Integer(), server_default="0", nullable=False),
        sa.Column("progress_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("take_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(f"state IN ({_STATES})", name=op.f("ck_jobs_state_known")),
        sa.CheckConstraint(
            f"error_kind IS NULL OR error_kind IN ({_KINDS})", name=op.f("ck_jobs_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_jobs_identity_id_identities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["reference_images.id"],
            name=op.f("fk_jobs_image_id_reference_images"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["clip_id"],
            ["voice_clips.id"],
            name=op.f("fk_jobs_clip_id_voice_clips"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["take_id"], ["takes.id"], name=op.f("fk_jobs_take_id_takes"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_identity_id"), "jobs", ["identity_id"])
    op.create_index("ix_jobs_state_position", "jobs", ["state", "position"])

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(trim(name)) > 0", name=op.f("ck_projects_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "project_bin",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("take_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_bin_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["take_id"], ["takes.id"], name=op.f("fk_project_bin_take_id_takes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "take_id", name=op.f("pk_project_bin")),
    )
    op.create_index(op.f("ix_project_bin_take_id"), "project_bin", ["take_id"])
    op.create_table(
        "timeline_clips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("take_id", sa.Integer(), nullable=False),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("position_frames", sa.Integer(), nullable=False),
        sa.Column("in_frame", sa.Integer(), nullable=False),
        sa.Column("out_frame", sa.Integer(), nullable=False),
        sa.CheckConstraint("in_frame >= 0", name=op.f("ck_timeline_clips_in_not_negative")),
        sa.CheckConstraint("out_frame > in_frame", name=op.f("ck_timeline_clips_range_not_empty")),
        sa.CheckConstraint(
            "position_frames >= 0", name=op.f("ck_timeline_clips_position_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_timeline_clips_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["take_id"],
            ["takes.id"],
            name=op.f("fk_timeline_clips_take_id_takes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_clips")),
    )
    op.create_index(op.f("ix_timeline_clips_take_id"), "timeline_clips", ["take_id"])
    op.create_index(
        "ix_timeline_clips_project_track",
        "timeline_clips",
        ["project_id", "track", "position_frames"],
    )


def downgrade() -> None:
    op.drop_table("timeline_clips")
    op.drop_table("project_bin")
    op.drop_table("projects")
    op.drop_table("jobs")
    op.drop_table("takes")
