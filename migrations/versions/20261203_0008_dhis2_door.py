"""the DHIS2 door: identifier mappings, and deletions with their revisions kept

DHIS2 senders name indicators and units by their own identifiers: ``dhis2_mappings`` maps
them to the hub's codes. DHIS2's ``importStrategy=DELETE`` removes an observation: its last
state goes to ``observation_deletions``, and its revisions, which now outlive it, lose their
foreign key.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dhis2_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dhis2_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_mappings")),
        sa.UniqueConstraint("kind", "dhis2_id", name=op.f("uq_dhis2_mappings_kind_dhis2_id")),
    )
    op.create_table(
        "observation_deletions",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("observation_id", _BIG_ID, nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_observation_deletions_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["access_keys.id"], name=op.f("fk_observation_deletions_key_id_access_keys")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_observation_deletions_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_deletions")),
    )
    op.create_index(
        "ix_observation_deletions_key",
        "observation_deletions",
        ["unit_id", "indicator_id", "period"],
        unique=False,
    )
    with op.batch_alter_table("observation_revisions", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_observation_revisions_observation_id_observations", type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("observation_revisions", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_observation_revisions_observation_id_observations",
            "observations",
            ["observation_id"],
            ["id"],
        )
    op.drop_index("ix_observation_deletions_key", table_name="observation_deletions")
    op.drop_table("observation_deletions")
    op.drop_table("dhis2_mappings")
