"""series_months: each month's values as aggregates combine them over time

Aggregates by month, quarter or year (docs/design.md §5) read a month's sum, least and greatest
value, its latest period's value and its latest receipt from here instead of every observation
of the month. The columns are filled from the stored observations, so an upgraded hub answers
from them at once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VALUES = {
    "value_sum": sa.Float,
    "value_min": sa.Float,
    "value_max": sa.Float,
    "last_start": sa.Date,
    "last_value": sa.Float,
    "changed_at": lambda: sa.DateTime(timezone=True),
}

# A month whose observations are gone (a detached partition's year) keeps its counts and has no
# values: aggregates pass over it, as they would over its observations.
# PostgreSQL groups the observations once and joins the months to them (UPDATE … FROM).
_FILL_POSTGRESQL = """
WITH stats AS (
    SELECT unit_id, indicator_id, CAST(date_trunc('month', period_start) AS date) AS month,
        sum(value) AS total, min(value) AS least, max(value) AS greatest,
        max(period_start) AS last_start, (array_agg(value ORDER BY period_start DESC))[1] AS last,
        max(received_at) AS changed_at
    FROM observations
    GROUP BY 1, 2, 3
)
UPDATE series_months SET
    value_sum = stats.total, value_min = stats.least, value_max = stats.greatest,
    last_start = stats.last_start, last_value = stats.last, changed_at = stats.changed_at
FROM stats
WHERE series_months.unit_id = stats.unit_id AND series_months.indicator_id = stats.indicator_id
    AND series_months.month = stats.month
"""
# SQLite before 3.33 has no UPDATE … FROM: each month reads its own observations (a hub on SQLite
# is small), then the value of its latest period.
_FILL_SQLITE = """
UPDATE series_months SET (value_sum, value_min, value_max, last_start, changed_at) = (
    SELECT sum(o.value), min(o.value), max(o.value), max(o.period_start), max(o.received_at)
    FROM observations o
    WHERE o.unit_id = series_months.unit_id AND o.indicator_id = series_months.indicator_id
        AND o.period_start >= series_months.month
        AND o.period_start < date(series_months.month, '+1 month')
)
"""
_FILL_SQLITE_LAST = """
UPDATE series_months SET last_value = (
    SELECT o.value FROM observations o
    WHERE o.unit_id = series_months.unit_id AND o.indicator_id = series_months.indicator_id
        AND o.period_start = series_months.last_start
)
WHERE last_start IS NOT NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("series_months") as batch:
        for name, kind in _VALUES.items():
            batch.add_column(sa.Column(name, kind(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FILL_POSTGRESQL)
        return
    op.execute(_FILL_SQLITE)
    op.execute(_FILL_SQLITE_LAST)


def downgrade() -> None:
    with op.batch_alter_table("series_months") as batch:
        for name in _VALUES:
            batch.drop_column(name)
