"""observations: covering index for aggregates

The (indicator_id, period_start) index becomes (indicator_id, period_start, unit_id, value,
received_at): aggregated views read those columns for a range of periods of one indicator, and
with all of them in the index PostgreSQL answers with an index-only scan instead of one heap
page per observation (bench/aggregates.py). Same leading columns, so every query the old index
served still has it; same number of indexes for ingest to maintain.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 06:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observations_indicator_id_period_start_covering",
            ["indicator_id", "period_start", "unit_id", "value", "received_at"],
            unique=False,
        )
        batch_op.drop_index("ix_observations_indicator_id_period_start")


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observations_indicator_id_period_start",
            ["indicator_id", "period_start"],
            unique=False,
        )
        batch_op.drop_index("ix_observations_indicator_id_period_start_covering")
