"""the registry through time

Units get a life (valid_from/valid_to) and versions of name, kind and parent; reorganisations
record lineage edges; obligations get validity (docs/design.md §8). Every existing unit gets one
version, valid always, copied from its row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reorganisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reorganisations")),
    )
    op.create_index(
        op.f("ix_reorganisations_effective"), "reorganisations", ["effective"], unique=False
    )
    # Plain ADD COLUMN: on SQLite a batch copy of ``units`` would drop its generation triggers.
    op.add_column("units", sa.Column("valid_from", sa.Date(), nullable=True))
    op.add_column("units", sa.Column("valid_to", sa.Date(), nullable=True))
    op.create_table(
        "unit_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_ascii", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subtype", sa.String(length=50), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("reorganisation_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('province', 'ministry', 'department', 'vertical_agency', 'district', "
            "'commune')",
            name=op.f("ck_unit_versions_kind"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to",
            name=op.f("ck_unit_versions_span"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["units.id"], name=op.f("fk_unit_versions_parent_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["reorganisation_id"],
            ["reorganisations.id"],
            name=op.f("fk_unit_versions_reorganisation_id_reorganisations"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_versions_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_versions")),
        sa.UniqueConstraint(
            "unit_id", "valid_from", name=op.f("uq_unit_versions_unit_id_valid_from")
        ),
    )
    for column in ("parent_id", "reorganisation_id", "unit_id"):
        op.create_index(op.f(f"ix_unit_versions_{column}"), "unit_versions", [column])
    op.execute(
        "INSERT INTO unit_versions (unit_id, name, name_ascii, kind, subtype, parent_id) "
        "SELECT id, name, name_ascii, kind, subtype, parent_id FROM units"
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reorganisation_id", sa.Integer(), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("from_unit_id", sa.Integer(), nullable=False),
        sa.Column("to_unit_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "share IS NULL OR (share > 0 AND share <= 1)", name=op.f("ck_lineage_edges_share")
        ),
        sa.ForeignKeyConstraint(
            ["from_unit_id"], ["units.id"], name=op.f("fk_lineage_edges_from_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["reorganisation_id"],
            ["reorganisations.id"],
            name=op.f("fk_lineage_edges_reorganisation_id_reorganisations"),
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_id"], ["units.id"], name=op.f("fk_lineage_edges_to_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_edges")),
        sa.UniqueConstraint(
            "reorganisation_id",
            "from_unit_id",
            "to_unit_id",
            name=op.f("uq_lineage_edges_reorganisation_id_from_unit_id_to_unit_id"),
        ),
    )
    for column in ("from_unit_id", "reorganisation_id", "to_unit_id"):
        op.create_index(op.f(f"ix_lineage_edges_{column}"), "lineage_edges", [column])
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reorganisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_obligations_reorganisation_id"), ["reorganisation_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_obligations_reorganisation_id_reorganisations"),
            "reorganisations",
            ["reorganisation_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_obligations_reorganisation_id_reorganisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_obligations_reorganisation_id"))
        batch_op.drop_column("reorganisation_id")
        batch_op.drop_column("valid_to")
        batch_op.drop_column("valid_from")
    op.drop_table("lineage_edges")
    op.drop_table("unit_versions")
    op.drop_column("units", "valid_to")
    op.drop_column("units", "valid_from")
    op.drop_index(op.f("ix_reorganisations_effective"), table_name="reorganisations")
    op.drop_table("reorganisations")
