"""The Generate page's form per project (prompt fields, preset, settings), kept as typed.

``projects.generate_form_json`` holds what the Generate page shows for the project (a JSON
object the page writes as the user edits and reads when the project opens); ``{}`` for
projects made before this revision: the page then starts from its defaults.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("generate_form_json", sa.Text(), server_default="{}", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("generate_form_json")
