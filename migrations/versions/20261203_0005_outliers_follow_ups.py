"""outlier flags, baselines and follow-ups

Values flagged as outliers at ingest, the per-month baselines ingest judges them against,
and observations marked for follow-up (docs/design.md §9).

Revision ID: 0005
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outlier_baselines",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("sd", sa.Float(), nullable=True),
        sa.Column("median", sa.Float(), nullable=True),
        sa.Column("mad", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_outlier_baselines_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_outlier_baselines_unit_id_units")
        ),
        sa.PrimaryKeyConstraint(
            "unit_id", "indicator_id", "month", name=op.f("pk_outlier_baselines")
        ),
    )
    op.create_table(
        "outlier_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("centre", sa.Float(), nullable=False),
        sa.Column("spread", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_outlier_flags_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_outlier_flags_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlier_flags")),
    )
    with op.batch_alter_table("outlier_flags", schema=None) as batch_op:
        batch_op.create_index("ix_outlier_flags_flagged_at", ["flagged_at"], unique=False)
        batch_op.create_index(
            "ix_outlier_flags_indicator_id_period_start",
            ["indicator_id", "period_start"],
            unique=False,
        )
        batch_op.create_index(
            "ix_outlier_flags_unit_id_indicator_id_period",
            ["unit_id", "indicator_id", "period"],
            unique=False,
        )

    op.create_table(
        "follow_ups",
        sa.Column(
            "observation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("follow_up", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["access_keys.id"], name=op.f("fk_follow_ups_key_id_access_keys")
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name=op.f("fk_follow_ups_observation_id_observations"),
        ),
        sa.PrimaryKeyConstraint("observation_id", name=op.f("pk_follow_ups")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_follow_up"), ["follow_up"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_follow_up"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("outlier_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_outlier_flags_unit_id_indicator_id_period")
        batch_op.drop_index("ix_outlier_flags_indicator_id_period_start")
        batch_op.drop_index("ix_outlier_flags_flagged_at")

    op.drop_table("outlier_flags")
    op.drop_table("outlier_baselines")
