"""Waveform peaks on voice clips, so the library draws waveforms without decoding audio.

Clips imported before this revision get their peaks computed on the next library open
(``Library.open`` back-fills rows whose ``peaks`` is NULL).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_clips") as batch:
        batch.add_column(sa.Column("peaks", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voice_clips") as batch:
        batch.drop_column("peaks")
