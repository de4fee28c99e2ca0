"""series_months: the reports of each series per month, kept for completeness

Completeness (docs/design.md §4) reads, per series and calendar month of period start, how many
periods were received and how many on time, instead of every observation of its range. The
table is filled here from the stored observations, so an upgraded hub answers from it at once:
deadlines are worked out in Python (the hub's own period arithmetic, its time zone and graces)
once per (indicator, period start) into a scratch table, and one INSERT … SELECT counts.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from ioc_hub.config import Settings
from ioc_hub.kit.periods import Cadence, Period
from ioc_hub.models.base import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 5000


def upgrade() -> None:
    op.create_table(
        "series_months",
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("grace_microseconds", sa.BigInteger(), nullable=True),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_series_months_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_series_months_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("indicator_id", "month", "unit_id", name=op.f("pk_series_months")),
    )
    _backfill()


def _backfill() -> None:
    settings = Settings()
    connection = op.get_bind()
    slots = connection.execute(
        sa.text(
            "SELECT DISTINCT o.indicator_id, o.period_start, i.cadence, i.grace_seconds "
            "FROM observations o JOIN indicators i ON i.id = o.indicator_id"
        ).columns(period_start=sa.Date())
    ).all()
    if not slots:
        return
    deadlines = sa.table(
        "series_month_deadlines",
        sa.column("indicator_id", sa.Integer()),
        sa.column("period_start", sa.Date()),
        sa.column("month", sa.Date()),
        sa.column("deadline", UTCDateTime()),
        sa.column("grace_microseconds", sa.BigInteger()),
    )
    op.create_table(
        "series_month_deadlines",
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grace_microseconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("indicator_id", "period_start"),
    )
    rows = []
    for indicator_id, period_start, cadence, grace_seconds in slots:
        grace = settings.grace(Cadence(cadence), grace_seconds)
        period = Period(Cadence(cadence), period_start)
        rows.append(
            {
                "indicator_id": indicator_id,
                "period_start": period_start,
                "month": period_start.replace(day=1),
                "deadline": period.deadline(settings.tz, grace),
                "grace_microseconds": grace // timedelta(microseconds=1),
            }
        )
    for start in range(0, len(rows), _CHUNK):
        connection.execute(sa.insert(deadlines), rows[start : start + _CHUNK])
    connection.execute(
        sa.text(
            "INSERT INTO series_months (indicator_id, month, unit_id, received, on_time, "
            "grace_microseconds, last_received_at) "
            "SELECT o.indicator_id, d.month, o.unit_id, count(*), "
            "sum(CASE WHEN o.first_received_at <= d.deadline THEN 1 ELSE 0 END), "
            "min(d.grace_microseconds), max(o.first_received_at) "
            "FROM observations o JOIN series_month_deadlines d "
            "ON d.indicator_id = o.indicator_id AND d.period_start = o.period_start "
            "GROUP BY o.indicator_id, d.month, o.unit_id"
        )
    )
    op.drop_table("series_month_deadlines")


def downgrade() -> None:
    op.drop_table("series_months")
