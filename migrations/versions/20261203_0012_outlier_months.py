"""outlier_months: each series' values per month, that baselines are merged from

Ingest's baseline of a new month (docs/design.md §9) reads the month just ended from
observations and the months before it from here, instead of a year of observations.
The cached baselines are emptied too: before this revision a DHIS2 deletion left them as they were.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outlier_months",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "month_values",
            sa.JSON().with_variant(postgresql.ARRAY(sa.Float()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("unit_id", "indicator_id", "month", name=op.f("pk_outlier_months")),
    )
    op.execute("DELETE FROM outlier_baselines")


def downgrade() -> None:
    op.drop_table("outlier_months")
