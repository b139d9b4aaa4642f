"""Voice clips keep the suggested reference window beside the chosen one.

``best_start_s``/``best_end_s`` are the window generation encodes (the user may move it in the
editor, ``Library.set_clip_window``); the new ``suggested_start_s``/``suggested_end_s`` keep
what the import analysis suggested, so the editor can show it and reset to it. Rows that
existed before this revision could not have been moved yet: their suggestion is their window.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_clips") as batch:
        batch.add_column(sa.Column("suggested_start_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("suggested_end_s", sa.Float(), nullable=True))
    op.execute(
        "UPDATE voice_clips SET suggested_start_s = best_start_s, suggested_end_s = best_end_s"
    )


def downgrade() -> None:
    with op.batch_alter_table("voice_clips") as batch:
        batch.drop_column("suggested_end_s")
        batch.drop_column("suggested_start_s")
