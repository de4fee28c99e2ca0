"""observation comments

A pushed row may carry a comment: stored with the value, and with both sides of a revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("previous_comment", sa.String(length=500), nullable=True))
    with op.batch_alter_table("observation_revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("old_comment", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("new_comment", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("observation_revisions", schema=None) as batch_op:
        batch_op.drop_column("new_comment")
        batch_op.drop_column("old_comment")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_column("previous_comment")
        batch_op.drop_column("comment")
