"""A batch's write on PostgreSQL: one statement, rows as bound arrays through ``unnest``.

The upsert moves the old value and comment into ``previous_*`` in the same UPDATE that replaces
them, so the revision log gets the true old value even when pushes of one natural key race; the
unique index keeps them from duplicating it. Data-modifying CTEs move series state, the months
completeness and aggregates read and unit contact in the same statement, and report what moved;
a month holding a corrected value is counted again after it, in the same transaction.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.coverage.months import Deadlines
from ioc_hub.ingest.repository import months
from ioc_hub.ingest.repository.common import (
    CONTACT_GAP,
    RECEIPT_RESOLUTION,
    Advance,
    Contact,
    StaleRegistry,
    WriteCounts,
)
from ioc_hub.ingest.validation import ValidRow

# Nothing is written when the registry is no longer at :generation (the rows were judged by an
# older copy). Series state and contact only move forward (GREATEST / CASE), so a backfill never
# moves them back; receipt times move to the resolution of RECEIPT_RESOLUTION. ``observed``,
# ``received`` and ``comments`` are NULL when no row has one; unnest pads them. A row the upsert
# inserted is at revision 1, an updated one past it (the partitioned table cannot return xmax).
_WRITE = text("""
WITH guard AS (
    SELECT (SELECT generation FROM registry_generation WHERE id = 1) = :generation AS fresh
),
input AS (
    SELECT t.unit_id, t.indicator_id, t.period, t.period_start, t.value, t.comment,
        t.observed_at, COALESCE(t.received_at, CAST(:now AS timestamptz)) AS received_at,
        t.on_time, t.grace
    FROM unnest(
            CAST(:unit_ids AS integer[]), CAST(:indicator_ids AS integer[]),
            CAST(:periods AS varchar[]), CAST(:starts AS date[]), CAST(:vals AS float8[]),
            CAST(:comments AS varchar[]), CAST(:observed AS timestamptz[]),
            CAST(:received AS timestamptz[]), CAST(:on_times AS boolean[]),
            CAST(:graces AS bigint[])
        ) AS t(unit_id, indicator_id, period, period_start, value, comment, observed_at,
            received_at, on_time, grace),
        guard
    WHERE guard.fresh
),
up AS (
    INSERT INTO observations AS o (unit_id, indicator_id, period, period_start, value, comment,
        observed_at, received_at, first_received_at, key_id, revision, imported)
    SELECT unit_id, indicator_id, period, period_start, value, comment, observed_at,
        received_at, received_at, :key_id, 1, :imported
    FROM input
    ON CONFLICT (unit_id, indicator_id, period, period_start) DO UPDATE
        SET previous_value = o.value, previous_comment = o.comment,
            previous_received_at = o.received_at,
            value = excluded.value, comment = excluded.comment,
            observed_at = excluded.observed_at, received_at = excluded.received_at,
            key_id = excluded.key_id, revision = o.revision + 1, imported = excluded.imported
        WHERE (o.value, o.comment) IS DISTINCT FROM (excluded.value, excluded.comment)
    RETURNING o.id, o.unit_id, o.indicator_id, o.period, o.period_start, o.value, o.comment,
        o.revision, o.previous_value, o.previous_comment, o.previous_received_at, o.received_at,
        o.key_id, (o.revision = 1) AS inserted
),
rev AS (
    INSERT INTO observation_revisions (observation_id, revision, old_value, new_value,
        old_comment, new_comment, old_received_at, changed_at, key_id)
    SELECT id, revision, previous_value, value, previous_comment, comment,
        previous_received_at, received_at, key_id
    FROM up
    WHERE NOT inserted
),
-- A created observation joins its month (ingest.repository.months.add does the same). A month
-- holding a corrected one is locked here too, in key order with the others, and write() counts
-- it again whole once the statement has run: what it adds for that month is replaced.
months AS (
    INSERT INTO series_months AS m (indicator_id, month, unit_id, received, on_time,
        grace_microseconds, last_received_at, value_sum, value_min, value_max, last_start,
        last_value, changed_at)
    SELECT up.indicator_id, CAST(date_trunc('month', up.period_start) AS date), up.unit_id,
        count(*) FILTER (WHERE up.inserted),
        count(*) FILTER (WHERE up.inserted AND input.on_time), min(input.grace),
        max(up.received_at), sum(up.value), min(up.value), max(up.value), max(up.period_start),
        (array_agg(up.value ORDER BY up.period_start DESC))[1], max(up.received_at)
    FROM up
    JOIN input ON input.unit_id = up.unit_id AND input.indicator_id = up.indicator_id
        AND input.period = up.period
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (indicator_id, month, unit_id) DO UPDATE SET
        received = m.received + excluded.received,
        on_time = m.on_time + excluded.on_time,
        grace_microseconds = CASE WHEN m.grace_microseconds = excluded.grace_microseconds
            THEN m.grace_microseconds END,
        last_received_at = GREATEST(m.last_received_at, excluded.last_received_at),
        value_sum = m.value_sum + excluded.value_sum,
        value_min = LEAST(m.value_min, excluded.value_min),
        value_max = GREATEST(m.value_max, excluded.value_max),
        last_value = CASE WHEN excluded.last_start > m.last_start
            THEN excluded.last_value ELSE m.last_value END,
        last_start = GREATEST(m.last_start, excluded.last_start),
        changed_at = GREATEST(m.changed_at, excluded.changed_at)
),
latest AS (
    SELECT DISTINCT ON (unit_id, indicator_id)
        unit_id, indicator_id, period, period_start, value,
        max(received_at) OVER (PARTITION BY unit_id, indicator_id) AS received_at
    FROM up
    ORDER BY unit_id, indicator_id, period_start DESC
),
series AS (
    INSERT INTO series_state AS s (unit_id, indicator_id, last_period, last_period_start,
        last_value, last_received_at)
    SELECT unit_id, indicator_id, period, period_start, value, received_at
    FROM latest
    ON CONFLICT (unit_id, indicator_id) DO UPDATE SET
        last_period = CASE WHEN excluded.last_period_start >= s.last_period_start
            THEN excluded.last_period ELSE s.last_period END,
        last_value = CASE WHEN excluded.last_period_start >= s.last_period_start
            THEN excluded.last_value ELSE s.last_value END,
        last_period_start = GREATEST(excluded.last_period_start, s.last_period_start),
        last_received_at = GREATEST(excluded.last_received_at, s.last_received_at)
    WHERE excluded.last_period_start >= s.last_period_start
        OR s.last_received_at < excluded.last_received_at - CAST(:resolution AS interval)
),
-- Every CTE reads the snapshot from before the statement: these are the states it replaced.
advanced AS (
    SELECT l.unit_id, l.indicator_id, l.period, l.period_start,
        cur.last_period AS previous, cur.last_period_start AS previous_start
    FROM latest l
    LEFT JOIN series_state cur
        ON cur.unit_id = l.unit_id AND cur.indicator_id = l.indicator_id
    WHERE cur.unit_id IS NULL OR l.period_start > cur.last_period_start
),
seen AS (
    SELECT i.unit_id, i.at, cur.last_contact_at AS previous, cur.last_push_at
    FROM (SELECT unit_id, max(received_at) AS at FROM input GROUP BY unit_id) i
    LEFT JOIN unit_contacts cur ON cur.unit_id = i.unit_id
),
contact AS (
    INSERT INTO unit_contacts AS c (unit_id, last_contact_at, last_push_at)
    SELECT unit_id, at, at
    FROM seen
    WHERE last_push_at IS NULL OR last_push_at < at - CAST(:resolution AS interval)
    ORDER BY unit_id
    ON CONFLICT (unit_id) DO UPDATE SET
        last_contact_at = GREATEST(c.last_contact_at, excluded.last_contact_at),
        last_push_at = GREATEST(c.last_push_at, excluded.last_push_at)
)
SELECT
    guard.fresh,
    (SELECT json_agg(json_build_array(unit_id, created, updated)) FROM (
        SELECT unit_id, count(*) FILTER (WHERE inserted) AS created,
            count(*) FILTER (WHERE NOT inserted) AS updated
        FROM up GROUP BY unit_id) per_unit) AS stored,
    (SELECT json_agg(json_build_array(unit_id, indicator_id, period)) FROM up) AS written,
    (SELECT json_agg(json_build_array(unit_id, indicator_id, month)) FROM (
        SELECT DISTINCT unit_id, indicator_id, CAST(date_trunc('month', period_start) AS date)
            AS month
        FROM up WHERE NOT inserted) corrected_months) AS corrected,
    (SELECT json_agg(json_build_array(unit_id, indicator_id, period, period_start, previous,
        previous_start)) FROM advanced) AS advanced,
    (SELECT json_agg(json_build_array(unit_id, at, previous)) FROM seen
        WHERE previous IS NULL OR previous <= at - CAST(:gap AS interval)) AS contacts
FROM guard
""")


async def write(
    session: AsyncSession,
    rows: Sequence[ValidRow],
    *,
    key_id: int,
    now: datetime,
    generation: int,
    imported: bool,
    deadlines: Deadlines,
) -> WriteCounts:
    """Store ``rows`` (one per natural key, in a fixed order) in one statement."""

    def column(values: list[Any]) -> list[Any] | None:
        return values if any(v is not None for v in values) else None

    result = (
        await session.execute(
            _WRITE,
            {
                "unit_ids": [r.unit_id for r in rows],
                "indicator_ids": [r.indicator_id for r in rows],
                "periods": [r.period for r in rows],
                "starts": [r.period_start for r in rows],
                "vals": [r.row.value for r in rows],
                "comments": column([r.row.comment for r in rows]),
                "observed": column([r.row.observed_at for r in rows]),
                "received": column([r.received_at for r in rows]),
                # What a row's month counts if the row creates its observation (first accepted
                # when received).
                "on_times": [
                    deadlines.on_time(r.indicator_id, r.period_start, r.received_at or now)
                    for r in rows
                ],
                "graces": [deadlines.grace(r.indicator_id) for r in rows],
                "key_id": key_id,
                "now": now,
                "imported": imported,
                "resolution": RECEIPT_RESOLUTION,
                "gap": CONTACT_GAP,
                "generation": generation,
            },
        )
    ).one()
    if not result.fresh:
        raise StaleRegistry
    counts = WriteCounts()
    for unit_id, created, updated in _json_rows(result.stored):
        counts.add(unit_id, created, updated)
    counts.unchanged = len(rows) - counts.created - counts.updated
    counts.written = [(u, i, period) for u, i, period in _json_rows(result.written)]
    counts.advanced = [
        Advance(u, i, period, date.fromisoformat(start), previous, _date(previous_start))
        for u, i, period, start, previous, previous_start in _json_rows(result.advanced)
    ]
    corrected = [(u, i, date.fromisoformat(month)) for u, i, month in _json_rows(result.corrected)]
    await months.recount(session, deadlines, corrected)
    counts.contacts = [
        Contact(
            u, datetime.fromisoformat(at), datetime.fromisoformat(previous) if previous else None
        )
        for u, at, previous in _json_rows(result.contacts)
    ]
    return counts


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _json_rows(value: Any) -> list[list[Any]]:
    """A ``json_agg`` column: NULL when it aggregated nothing; the driver may have decoded it."""
    if value is None:
        return []
    rows: list[list[Any]] = orjson.loads(value) if isinstance(value, str | bytes) else value
    return rows
