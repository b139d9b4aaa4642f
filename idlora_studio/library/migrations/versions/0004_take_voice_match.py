"""Speaker similarity of each take's voice to the identity's reference clip.

``voice_match`` is the cosine similarity of two speaker embeddings (the take's decoded
audio against the clip it was generated from), NULL until it is computed (takes made
before this revision, or where no reference clip could be read). ``voice_match_model``
names the embedding model, so numbers from different models are never compared blindly.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("takes") as batch:
        batch.add_column(sa.Column("voice_match", sa.Float(), nullable=True))
        batch.add_column(sa.Column("voice_match_model", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("takes") as batch:
        batch.drop_column("voice_match_model")
        batch.drop_column("voice_match")
