"""Writes of an accepted batch: observations, revisions, series state and unit contact, all in
the caller's transaction.

PostgreSQL takes the whole batch in one statement (arrays through ``unnest``, data-modifying
CTEs). The upsert moves the old value into ``previous_value`` in the same UPDATE that replaces it,
so the revision log gets the true old value even when pushes of one natural key race; the unique
index keeps them from duplicating it. SQLite serialises writers (``BEGIN IMMEDIATE``), so it
takes the plain path, correct on PostgreSQL too but slower: read the existing rows, then insert
and update.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ioc_hub.ingest.validation import ValidRow
from ioc_hub.kit.dialect import greatest, is_postgresql, upsert
from ioc_hub.models import (
    AccessKey,
    Observation,
    ObservationRevision,
    RegistryGeneration,
    SeriesState,
    Unit,
    UnitContact,
)


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


# Unit contact is kept to this resolution: a push within it of the stored time does not rewrite
# (and lock) the unit's contact row, so concurrent pushes of one unit do not queue on it.
CONTACT_RESOLUTION = timedelta(seconds=1)

_PG_BATCH = text(
    """
WITH guard AS (
    SELECT
        (SELECT generation FROM registry_generation WHERE id = 1) = :generation AS fresh,
        EXISTS (
            SELECT 1 FROM access_keys k JOIN units u ON u.id = k.unit_id
            WHERE k.id = :key_id AND k.revoked_at IS NULL AND u.active
        ) AS key_live
),
input AS (
    SELECT * FROM unnest(
        CAST(:unit_ids AS integer[]), CAST(:indicator_ids AS integer[]),
        CAST(:periods AS varchar[]), CAST(:starts AS date[]), CAST(:vals AS float8[]),
        CAST(:observed AS timestamptz[])
    ) AS t(unit_id, indicator_id, period, period_start, value, observed_at)
    WHERE (SELECT fresh AND key_live FROM guard)
),
up AS (
    INSERT INTO observations AS o (unit_id, indicator_id, period, period_start, value,
        observed_at, received_at, first_received_at, key_id, revision, imported)
    SELECT unit_id, indicator_id, period, period_start, value, observed_at,
        :now, :now, :key_id, 1, false
    FROM input
    ON CONFLICT (unit_id, indicator_id, period) DO UPDATE
        SET previous_value = o.value, previous_received_at = o.received_at,
            value = excluded.value, observed_at = excluded.observed_at,
            received_at = excluded.received_at, key_id = excluded.key_id,
            revision = o.revision + 1
        WHERE o.value IS DISTINCT FROM excluded.value
    RETURNING o.id, o.unit_id, o.indicator_id, o.period, o.period_start, o.value, o.revision,
        o.previous_value, o.previous_received_at, (o.xmax = 0) AS inserted
),
rev AS (
    INSERT INTO observation_revisions (observation_id, revision, old_value, new_value,
        old_received_at, changed_at, key_id)
    SELECT id, revision, previous_value, value, previous_received_at, :now, :key_id
    FROM up
    WHERE NOT inserted
),
series AS (
    INSERT INTO series_state AS s (unit_id, indicator_id, last_period, last_period_start,
        last_value, last_received_at)
    SELECT DISTINCT ON (unit_id, indicator_id)
        unit_id, indicator_id, period, period_start, value, CAST(:now AS timestamptz)
    FROM up
    ORDER BY unit_id, indicator_id, period_start DESC
    ON CONFLICT (unit_id, indicator_id) DO UPDATE SET
        last_period = CASE WHEN excluded.last_period_start >= s.last_period_start
            THEN excluded.last_period ELSE s.last_period END,
        last_value = CASE WHEN excluded.last_period_start >= s.last_period_start
            THEN excluded.last_value ELSE s.last_value END,
        last_period_start = GREATEST(excluded.last_period_start, s.last_period_start),
        last_received_at = GREATEST(excluded.last_received_at, s.last_received_at)
),
contact AS (
    INSERT INTO unit_contacts AS c (unit_id, last_contact_at, last_push_at)
    SELECT DISTINCT i.unit_id, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM input i
    LEFT JOIN unit_contacts cur ON cur.unit_id = i.unit_id
    WHERE cur.unit_id IS NULL OR cur.last_push_at IS NULL
       OR cur.last_push_at < CAST(:now AS timestamptz) - CAST(:resolution AS interval)
    ORDER BY i.unit_id
    ON CONFLICT (unit_id) DO UPDATE SET
        last_contact_at = GREATEST(c.last_contact_at, excluded.last_contact_at),
        last_push_at = GREATEST(c.last_push_at, excluded.last_push_at)
)
SELECT
    count(*) FILTER (WHERE inserted) AS created,
    count(*) FILTER (WHERE NOT inserted) AS updated,
    (SELECT fresh FROM guard) AS fresh,
    (SELECT key_live FROM guard) AS key_live
FROM up
"""
)


class StaleRegistry(Exception):
    """The registry changed since the copy the rows were validated against; nothing was written."""


class KeyNotLive(Exception):
    """The key was revoked (or its unit deactivated) since it was cached; nothing was written."""


async def write_batch(
    executor: AsyncSession | AsyncConnection,
    rows: Sequence[ValidRow],
    *,
    key_id: int,
    now: datetime,
    generation: int,
) -> WriteCounts:
    """Store ``rows`` (already folded: one row per natural key) and return what changed.

    Writes only while the registry is still at ``generation`` and the key is live; otherwise
    raises :class:`StaleRegistry` or :class:`KeyNotLive` having written nothing. On PostgreSQL
    ``executor`` may be an autocommit connection: the whole write is one statement.
    """
    # A fixed order makes concurrent batches lock shared rows in the same order (no deadlock).
    ordered = sorted(rows, key=lambda r: (r.unit_id, r.indicator_id, r.period))
    if is_postgresql(executor):
        return await _write_postgresql(executor, ordered, key_id, now, generation)
    assert isinstance(executor, AsyncSession), "SQLite writes in the request's session"
    return await _write_generic(executor, ordered, key_id, now, generation)


async def check_guard(
    executor: AsyncSession | AsyncConnection, *, key_id: int, generation: int
) -> None:
    """What the write statement checks, on its own: for a push that writes nothing."""
    current = await executor.scalar(
        select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
    )
    if current != generation:
        raise StaleRegistry
    live = await executor.scalar(
        select(AccessKey.id)
        .join(Unit, Unit.id == AccessKey.unit_id)
        .where(AccessKey.id == key_id, AccessKey.revoked_at.is_(None), Unit.active.is_(True))
    )
    if live is None:
        raise KeyNotLive


async def _write_postgresql(
    executor: AsyncSession | AsyncConnection,
    rows: Sequence[ValidRow],
    key_id: int,
    now: datetime,
    generation: int,
) -> WriteCounts:
    params = {
        "unit_ids": [r.unit_id for r in rows],
        "indicator_ids": [r.indicator_id for r in rows],
        "periods": [r.period for r in rows],
        "starts": [r.period_start for r in rows],
        "vals": [r.value for r in rows],
        "observed": [r.observed_at for r in rows],
        "now": now,
        "key_id": key_id,
        "resolution": CONTACT_RESOLUTION,
        "generation": generation,
    }
    result = (await executor.execute(_PG_BATCH, params)).one()
    if not result.fresh:
        raise StaleRegistry
    if not result.key_live:
        raise KeyNotLive
    return WriteCounts(
        created=result.created,
        updated=result.updated,
        unchanged=len(rows) - result.created - result.updated,
    )


async def _write_generic(
    session: AsyncSession, rows: Sequence[ValidRow], key_id: int, now: datetime, generation: int
) -> WriteCounts:
    # SQLite runs one writer at a time (BEGIN IMMEDIATE): nothing changes between this check and
    # the writes below.
    await check_guard(session, key_id=key_id, generation=generation)
    counts = WriteCounts()
    existing: dict[tuple[int, int, str], tuple[int, float, datetime, int]] = {}
    keys = [(r.unit_id, r.indicator_id, r.period) for r in rows]
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        found = await session.execute(
            select(
                Observation.unit_id,
                Observation.indicator_id,
                Observation.period,
                Observation.id,
                Observation.value,
                Observation.received_at,
                Observation.revision,
            ).where(
                tuple_(Observation.unit_id, Observation.indicator_id, Observation.period).in_(chunk)
            )
        )
        for r in found:
            existing[(r.unit_id, r.indicator_id, r.period)] = (
                r.id,
                r.value,
                r.received_at,
                r.revision,
            )

    new, changed, revisions = [], [], []
    stored: list[ValidRow] = []
    for row in rows:
        old = existing.get((row.unit_id, row.indicator_id, row.period))
        if old is None:
            counts.created += 1
            stored.append(row)
            new.append(
                {
                    "unit_id": row.unit_id,
                    "indicator_id": row.indicator_id,
                    "period": row.period,
                    "period_start": row.period_start,
                    "value": row.value,
                    "observed_at": row.observed_at,
                    "received_at": now,
                    "first_received_at": now,
                    "key_id": key_id,
                    "revision": 1,
                    "imported": False,
                }
            )
            continue
        obs_id, old_value, old_received_at, revision = old
        if old_value == row.value:
            counts.unchanged += 1
            continue
        counts.updated += 1
        stored.append(row)
        changed.append(
            {
                "id": obs_id,
                "value": row.value,
                "observed_at": row.observed_at,
                "received_at": now,
                "key_id": key_id,
                "revision": revision + 1,
                "previous_value": old_value,
                "previous_received_at": old_received_at,
            }
        )
        revisions.append(
            {
                "observation_id": obs_id,
                "revision": revision + 1,
                "old_value": old_value,
                "new_value": row.value,
                "old_received_at": old_received_at,
                "changed_at": now,
                "key_id": key_id,
            }
        )
    if new:
        await session.execute(insert(Observation), new)
    if changed:
        await session.execute(update(Observation), changed)
        await session.execute(insert(ObservationRevision), revisions)
    if stored:
        await _upsert_series_generic(session, stored, now)
    await touch_contacts(session, {r.unit_id for r in rows}, now, pushed=True)
    return counts


async def _upsert_series_generic(
    session: AsyncSession, rows: Sequence[ValidRow], now: datetime
) -> None:
    latest: dict[tuple[int, int], ValidRow] = {}
    for row in rows:
        key = (row.unit_id, row.indicator_id)
        if key not in latest or row.period_start > latest[key].period_start:
            latest[key] = row
    statement = upsert(session, SeriesState)
    new = statement.excluded
    newer = new.last_period_start >= SeriesState.last_period_start
    statement = statement.on_conflict_do_update(
        index_elements=[SeriesState.unit_id, SeriesState.indicator_id],
        set_={
            "last_period": case((newer, new.last_period), else_=SeriesState.last_period),
            "last_value": case((newer, new.last_value), else_=SeriesState.last_value),
            "last_period_start": greatest(
                session, new.last_period_start, SeriesState.last_period_start
            ),
            "last_received_at": greatest(
                session, new.last_received_at, SeriesState.last_received_at
            ),
        },
    )
    await session.execute(
        statement,
        [
            {
                "unit_id": r.unit_id,
                "indicator_id": r.indicator_id,
                "last_period": r.period,
                "last_period_start": r.period_start,
                "last_value": r.value,
                "last_received_at": now,
            }
            for r in latest.values()
        ],
    )


async def touch_contacts(
    session: AsyncSession, unit_ids: set[int], now: datetime, *, pushed: bool
) -> None:
    """Record that units were heard from: by an accepted push, or by a heartbeat."""
    if not unit_ids:
        return
    column = "last_push_at" if pushed else "last_heartbeat_at"
    statement = upsert(session, UnitContact)
    statement = statement.on_conflict_do_update(
        index_elements=[UnitContact.unit_id],
        set_={
            "last_contact_at": greatest(
                session, statement.excluded.last_contact_at, UnitContact.last_contact_at
            ),
            column: statement.excluded[column],
        },
    )
    await session.execute(
        statement,
        [{"unit_id": u, "last_contact_at": now, column: now} for u in sorted(unit_ids)],
    )
