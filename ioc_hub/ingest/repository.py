"""Writes of an accepted batch: observations, revisions, series state and unit contact, all in
the caller's transaction.

PostgreSQL takes the whole batch in one statement (arrays through ``unnest``, data-modifying
CTEs). The upsert moves the old value into ``previous_value`` in the same UPDATE that replaces it,
so the revision log gets the true old value even when pushes of one natural key race; the unique
index keeps them from duplicating it. SQLite serialises writers (``BEGIN IMMEDIATE``), so it
takes the plain path, correct on PostgreSQL too but slower: read the existing rows, then insert
and update.

Both paths also report what the batch moved (:class:`WriteCounts`): per-unit counts, series
whose latest period advanced and units heard from after a silence. The live event stream is
built from them, so it never has to ask the database again.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from sqlalchemy import TextClause, case, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
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


@dataclass(frozen=True, slots=True)
class Advance:
    """A series whose latest period moved forward (or that received its first value)."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    previous_period: str | None
    previous_start: date | None


@dataclass(frozen=True, slots=True)
class Contact:
    """A unit heard from at ``at`` after ``previous`` (``None``: never before), where the silence
    was at least :data:`CONTACT_GAP` long."""

    unit_id: int
    at: datetime
    previous: datetime | None


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    per_unit: dict[int, tuple[int, int]] = field(default_factory=dict)
    """(created, updated) per unit; units whose rows were all unchanged are absent."""
    advanced: list[Advance] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)


# Receipt times are kept to this resolution. A push within it of a unit's stored contact does
# not rewrite (and lock) the unit's contact row, so concurrent pushes of one unit do not queue on
# it. A value of an earlier period than a series' latest, received within it of the series'
# ``last_received_at``, does not rewrite the series' row: the row would change by that time
# only. When history arrives, a batch rewrote a row for each of its series; without that,
# 1,000-row batches of earlier days are stored 1.29 times as fast (python -m bench.compare).
RECEIPT_RESOLUTION = timedelta(seconds=1)

# Contacts after a silence this long are reported back (:class:`Contact`): no connection window
# is shorter (the shortest cadence is daily), so a shorter silence never ends a disconnection.
CONTACT_GAP = timedelta(days=1)

# One statement stores the rows of one or more pushes (see ``group_commit``): each row carries
# its push's key and receipt time (an imported row its own), and each push is answered from its
# own rows. Rows of a key that is no longer live are not written; nothing is written when the
# registry is no longer at ``:generation``. Series state and contact only move forward
# (GREATEST / CASE), so a backfill never moves them back; receipt times move to the resolution
# of RECEIPT_RESOLUTION.
_PG_BATCH_TEMPLATE = """
WITH guard AS (
    SELECT
        (SELECT generation FROM registry_generation WHERE id = 1) = :generation AS fresh,
        ARRAY(
            SELECT k.id FROM access_keys k JOIN units u ON u.id = k.unit_id
            WHERE k.id = ANY(CAST(:w_keys AS integer[])) AND k.revoked_at IS NULL AND u.active
        ) AS live_keys
),
-- Rows carry their push's place in the w_ arrays (1-based ``req``): its key, its receipt time
-- (an imported row brings its own) and whether it is an import. ``observed`` and ``received``
-- are NULL when no row has one; unnest pads them. The row arrays come as arrays or, from
-- LITERAL_ROWS rows on, as array literals.
input AS (
    SELECT t.unit_id, t.indicator_id, t.period, t.period_start, t.value, t.observed_at,
        COALESCE(t.received_at, (CAST(:w_nows AS timestamptz[]))[t.req]) AS received_at,
        (CAST(:w_keys AS integer[]))[t.req] AS key_id,
        (CAST(:w_imported AS boolean[]))[t.req] AS imported
    FROM unnest({row_arrays})
        AS t(req, unit_id, indicator_id, period, period_start, value, observed_at, received_at),
        guard
    WHERE guard.fresh AND (CAST(:w_keys AS integer[]))[t.req] = ANY(guard.live_keys)
),
up AS (
    INSERT INTO observations AS o (unit_id, indicator_id, period, period_start, value,
        observed_at, received_at, first_received_at, key_id, revision, imported)
    SELECT unit_id, indicator_id, period, period_start, value, observed_at,
        received_at, received_at, key_id, 1, imported
    FROM input
    ON CONFLICT (unit_id, indicator_id, period) DO UPDATE
        SET previous_value = o.value, previous_received_at = o.received_at,
            value = excluded.value, observed_at = excluded.observed_at,
            received_at = excluded.received_at, key_id = excluded.key_id,
            revision = o.revision + 1, imported = excluded.imported
        WHERE o.value IS DISTINCT FROM excluded.value
    RETURNING o.id, o.unit_id, o.indicator_id, o.period, o.period_start, o.value, o.revision,
        o.previous_value, o.previous_received_at, o.received_at, o.key_id, (o.xmax = 0) AS inserted
),
rev AS (
    INSERT INTO observation_revisions (observation_id, revision, old_value, new_value,
        old_received_at, changed_at, key_id)
    SELECT id, revision, previous_value, value, previous_received_at, received_at, key_id
    FROM up
    WHERE NOT inserted
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
-- The rows stored (created or changed), by natural key: the caller tells whose they were.
-- Joining them back to ``input`` here would do, but a generic plan (the statement is prepared)
-- cannot know the batch's size and may loop over one side for each row of the other.
SELECT
    guard.fresh,
    guard.live_keys,
    stored.unit_ids,
    stored.indicator_ids,
    stored.periods,
    stored.inserted,
    (SELECT json_agg(json_build_array(unit_id, indicator_id, period, period_start, previous,
        previous_start)) FROM advanced) AS advanced,
    (SELECT json_agg(json_build_array(unit_id, at, previous)) FROM seen
        WHERE previous IS NULL OR previous <= at - CAST(:gap AS interval)) AS contacts
FROM guard, (
    SELECT array_agg(unit_id) AS unit_ids, array_agg(indicator_id) AS indicator_ids,
        array_agg(period) AS periods, array_agg(inserted) AS inserted
    FROM up
) stored
"""

# The rows' columns, one array each, in unnest's order.
_ROW_ARRAYS = {
    "reqs": "integer",
    "unit_ids": "integer",
    "indicator_ids": "integer",
    "periods": "varchar",
    "starts": "date",
    "vals": "float8",
    "observed": "timestamptz",
    "received": "timestamptz",
}

LITERAL_ROWS = 64
"""From this many rows on, the row arrays travel as array literals (text). asyncpg's binary
encoding checks every element in Python: for 1,000 rows it costs the worker 2.1 ms, building the
text 0.9 ms, while PostgreSQL spends 0.35 ms more reading text. Text also costs PostgreSQL about
27 us more per statement, more than a small write saves in the worker."""


@dataclass(frozen=True)
class _Statement:
    """The write statement, for SQLAlchemy (named parameters) and for asyncpg (positional)."""

    clause: TextClause
    sql: str
    order: tuple[str, ...]

    @classmethod
    def of(cls, *, literals: bool) -> "_Statement":
        cast = "CAST(CAST(:{} AS text) AS {}[])" if literals else "CAST(:{} AS {}[])"
        arrays = ", ".join(cast.format(name, kind) for name, kind in _ROW_ARRAYS.items())
        clause = text(_PG_BATCH_TEMPLATE.replace("{row_arrays}", arrays))
        compiled = clause.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        return cls(clause, str(compiled), tuple(compiled.positiontup or ()))


_BINARY, _LITERAL = _Statement.of(literals=False), _Statement.of(literals=True)

# An element of an array literal, by the array's type; only instants are ever NULL.
_ELEMENT: dict[str, Callable[[Any], str]] = {
    "integer": str,
    "varchar": str,
    "date": date.isoformat,
    "float8": repr,
    "timestamptz": lambda v: "NULL" if v is None else v.astimezone(UTC).isoformat(),
}


class StaleRegistry(Exception):
    """The registry changed since the copy the rows were validated against; nothing was written."""


class KeyNotLive(Exception):
    """The key was revoked (or its unit deactivated) since it was cached; nothing was written."""


@dataclass(frozen=True, slots=True)
class Write:
    """One push's rows to store (already folded: one row per natural key) and who sent them."""

    rows: Sequence[ValidRow]
    key_id: int
    now: datetime
    """When the push was received; ``imported`` rows carry their own ``received_at`` instead."""
    imported: bool = False


async def write_batch(
    executor: AsyncSession | AsyncConnection,
    rows: Sequence[ValidRow],
    *,
    key_id: int,
    now: datetime,
    generation: int,
    imported: bool = False,
) -> WriteCounts:
    """Store ``rows`` (already folded: one row per natural key) and return what changed.

    Writes only while the registry is still at ``generation`` and the key is live; otherwise
    raises :class:`StaleRegistry` or :class:`KeyNotLive` having written nothing. On PostgreSQL
    ``executor`` may be an autocommit connection: the whole write is one statement.

    ``imported`` rows carry their own ``received_at`` (a push is received ``now``) and are stored
    with ``imported`` set; everything else is the same.
    """
    write = Write(rows, key_id, now, imported)
    if is_postgresql(executor):
        [counts] = await write_many(executor, [write], generation)
        if counts is None:
            raise KeyNotLive
        return counts
    assert isinstance(executor, AsyncSession), "SQLite writes in the request's session"
    # A fixed order makes concurrent batches lock shared rows in the same order (no deadlock).
    ordered = sorted(rows, key=lambda r: (r.unit_id, r.indicator_id, r.period))
    return await _write_generic(executor, ordered, key_id, now, generation, imported)


async def write_many(
    executor: AsyncSession | AsyncConnection | asyncpg.Connection,
    writes: Sequence[Write],
    generation: int,
) -> list[WriteCounts | None]:
    """Store several pushes in one PostgreSQL statement; what each one changed, in order.

    No natural key may appear in two writes (PostgreSQL refuses an upsert that touches a row
    twice). Raises :class:`StaleRegistry`, having written nothing, when the registry is no longer
    at ``generation``; a write whose key is no longer live is not stored and answered ``None``.
    ``executor`` may be an asyncpg connection (group commit: SQLAlchemy's own work per statement
    costs more than the database's for a few rows).
    """
    # A fixed order makes concurrent statements lock shared rows in the same order.
    rows = sorted(
        ((row, req) for req, write in enumerate(writes, 1) for row in write.rows),
        key=lambda item: (item[0].unit_id, item[0].indicator_id, item[0].period),
    )
    imports = any(w.imported for w in writes)
    arrays: dict[str, list[Any] | None] = {
        "reqs": [req for _, req in rows],
        "unit_ids": [r.unit_id for r, _ in rows],
        "indicator_ids": [r.indicator_id for r, _ in rows],
        "periods": [r.period for r, _ in rows],
        "starts": [r.period_start for r, _ in rows],
        "vals": [r.value for r, _ in rows],
        "observed": (
            [r.observed_at for r, _ in rows] if any(r.observed_at for r, _ in rows) else None
        ),
        "received": (
            [r.received_at if writes[req - 1].imported else None for r, req in rows]
            if imports
            else None
        ),
    }
    statement = _BINARY
    if len(rows) >= LITERAL_ROWS:
        statement, arrays = _LITERAL, _literals(arrays)
    params: dict[str, Any] = {
        **arrays,
        "w_keys": [w.key_id for w in writes],
        "w_nows": [w.now for w in writes],
        "w_imported": [w.imported for w in writes],
        "resolution": RECEIPT_RESOLUTION,
        "gap": CONTACT_GAP,
        "generation": generation,
    }
    result: Any  # asyncpg's Record or SQLAlchemy's RowMapping: both read by column name
    if isinstance(executor, asyncpg.Connection):
        result = await executor.fetchrow(statement.sql, *(params[n] for n in statement.order))
    else:
        result = (await executor.execute(statement.clause, params)).one()._mapping
    if not result["fresh"]:
        raise StaleRegistry
    live = set(result["live_keys"])
    answers: list[WriteCounts | None] = [
        WriteCounts() if w.key_id in live else None for w in writes
    ]
    owner = _Owners(writes, live)
    stored = zip(
        result["unit_ids"] or (),
        result["indicator_ids"] or (),
        result["periods"] or (),
        result["inserted"] or (),
        strict=True,
    )
    for unit_id, indicator_id, period, inserted in stored:
        counts = answers[owner.of(unit_id, indicator_id, period)]
        assert counts is not None
        created, updated = counts.per_unit.get(unit_id, (0, 0))
        counts.per_unit[unit_id] = (created + inserted, updated + (not inserted))
        counts.created += inserted
        counts.updated += not inserted
    for u, i, period, start, previous, previous_start in _json_rows(result["advanced"]):
        counts = answers[owner.of(u, i, period)]
        assert counts is not None
        counts.advanced.append(
            Advance(u, i, period, date.fromisoformat(start), previous, _date(previous_start))
        )
    for u, at, previous in _json_rows(result["contacts"]):
        counts = answers[owner.first_of_unit(u)]
        assert counts is not None
        counts.contacts.append(
            Contact(
                u,
                datetime.fromisoformat(at),
                datetime.fromisoformat(previous) if previous else None,
            )
        )
    for counts, write in zip(answers, writes, strict=True):
        if counts is not None:
            counts.unchanged = len(write.rows) - counts.created - counts.updated
    return answers


class _Owners:
    """Which write a stored row came from (natural keys are unique across the writes)."""

    def __init__(self, writes: Sequence[Write], live: Collection[int]) -> None:
        self._single = len(writes) == 1
        self._by_key: dict[tuple[int, int, str], int] = {}
        self._by_unit: dict[int, int] = {}
        if not self._single:
            for req in reversed(range(len(writes))):
                for r in writes[req].rows:
                    self._by_key[r.unit_id, r.indicator_id, r.period] = req
                    if writes[req].key_id in live:  # only stored rows made contact
                        self._by_unit[r.unit_id] = req

    def of(self, unit_id: int, indicator_id: int, period: str) -> int:
        return 0 if self._single else self._by_key[unit_id, indicator_id, period]

    def first_of_unit(self, unit_id: int) -> int:
        """The first stored write with a row of the unit: it reports the unit's contact."""
        return 0 if self._single else self._by_unit[unit_id]


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


def _literals(arrays: dict[str, list[Any] | None]) -> dict[str, Any]:
    """The row arrays as array literals. Their elements need no quoting (numbers, dates,
    canonical period ids, ISO instants); a float's repr reads back as the same float."""
    return {
        name: None
        if values is None
        else "{" + ",".join(map(_ELEMENT[_ROW_ARRAYS[name]], values)) + "}"
        for name, values in arrays.items()
    }


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _json_rows(value: Any) -> list[list[Any]]:
    """A ``json_agg`` column: NULL when it aggregated nothing; the driver may have decoded it."""
    if value is None:
        return []
    rows: list[list[Any]] = orjson.loads(value) if isinstance(value, str | bytes) else value
    return rows


async def _write_generic(
    session: AsyncSession,
    rows: Sequence[ValidRow],
    key_id: int,
    now: datetime,
    generation: int,
    imported: bool,
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
        received_at = row.received_at if imported and row.received_at else now
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
                    "received_at": received_at,
                    "first_received_at": received_at,
                    "key_id": key_id,
                    "revision": 1,
                    "imported": imported,
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
                "received_at": received_at,
                "key_id": key_id,
                "revision": revision + 1,
                "previous_value": old_value,
                "previous_received_at": old_received_at,
                "imported": imported,
            }
        )
        revisions.append(
            {
                "observation_id": obs_id,
                "revision": revision + 1,
                "old_value": old_value,
                "new_value": row.value,
                "old_received_at": old_received_at,
                "changed_at": received_at,
                "key_id": key_id,
            }
        )
    if new:
        await session.execute(insert(Observation), new)
    if changed:
        await session.execute(update(Observation), changed)
        await session.execute(insert(ObservationRevision), revisions)
    for row in stored:
        created, updated = counts.per_unit.get(row.unit_id, (0, 0))
        fresh = existing.get((row.unit_id, row.indicator_id, row.period)) is None
        counts.per_unit[row.unit_id] = (created + fresh, updated + (not fresh))
    if stored:
        counts.advanced = await _upsert_series_generic(session, stored, now)
    contact_at: dict[int, datetime] = {}
    for row in rows:
        at = row.received_at if imported and row.received_at else now
        contact_at[row.unit_id] = max(at, contact_at.get(row.unit_id, at))
    counts.contacts = await _touch_pushes(session, contact_at)
    return counts


async def _upsert_series_generic(
    session: AsyncSession, rows: Sequence[ValidRow], now: datetime
) -> list[Advance]:
    latest: dict[tuple[int, int], ValidRow] = {}
    received: dict[tuple[int, int], datetime] = {}
    for row in rows:
        key = (row.unit_id, row.indicator_id)
        if key not in latest or row.period_start > latest[key].period_start:
            latest[key] = row
        at = row.received_at or now
        received[key] = max(at, received.get(key, at))
    before: dict[tuple[int, int], tuple[str, date, datetime]] = {}
    pairs = list(latest)
    for start in range(0, len(pairs), 5000):
        found = await session.execute(
            select(
                SeriesState.unit_id,
                SeriesState.indicator_id,
                SeriesState.last_period,
                SeriesState.last_period_start,
                SeriesState.last_received_at,
            ).where(
                tuple_(SeriesState.unit_id, SeriesState.indicator_id).in_(
                    pairs[start : start + 5000]
                )
            )
        )
        for r in found:
            before[(r.unit_id, r.indicator_id)] = (
                r.last_period,
                r.last_period_start,
                r.last_received_at,
            )
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
    # As the PostgreSQL statement: an earlier period received within the resolution of the
    # series' receipt time leaves its row alone. Writers are serialised (SQLite) or only move the
    # row forward, so what was read stays true.
    changes = [
        {
            "unit_id": r.unit_id,
            "indicator_id": r.indicator_id,
            "last_period": r.period,
            "last_period_start": r.period_start,
            "last_value": r.value,
            "last_received_at": received[key],
        }
        for key, r in latest.items()
        if key not in before
        or r.period_start >= before[key][1]
        or before[key][2] < received[key] - RECEIPT_RESOLUTION
    ]
    if changes:
        await session.execute(statement, changes)
    advanced = []
    for key, row in latest.items():
        old = before.get(key)
        if old is None or row.period_start > old[1]:
            advanced.append(
                Advance(
                    *key,
                    row.period,
                    row.period_start,
                    old[0] if old else None,
                    old[1] if old else None,
                )
            )
    return advanced


async def previous_contacts(
    session: AsyncSession, unit_ids: Collection[int]
) -> dict[int, datetime]:
    """When each unit was last heard from (units never heard from are absent)."""
    found = await session.execute(
        select(UnitContact.unit_id, UnitContact.last_contact_at).where(
            UnitContact.unit_id.in_(list(unit_ids))
        )
    )
    return {r.unit_id: r.last_contact_at for r in found}


async def _touch_pushes(session: AsyncSession, contact_at: dict[int, datetime]) -> list[Contact]:
    before = await previous_contacts(session, contact_at)
    statement = upsert(session, UnitContact)
    statement = statement.on_conflict_do_update(
        index_elements=[UnitContact.unit_id],
        set_={
            "last_contact_at": greatest(
                session, statement.excluded.last_contact_at, UnitContact.last_contact_at
            ),
            "last_push_at": greatest(
                session, statement.excluded.last_push_at, UnitContact.last_push_at
            ),
        },
    )
    await session.execute(
        statement,
        [
            {"unit_id": u, "last_contact_at": at, "last_push_at": at}
            for u, at in sorted(contact_at.items())
        ],
    )
    return [
        Contact(unit_id, at, before.get(unit_id))
        for unit_id, at in sorted(contact_at.items())
        if unit_id not in before or before[unit_id] <= at - CONTACT_GAP
    ]


async def touch_heartbeat(session: AsyncSession, unit_id: int, now: datetime) -> datetime | None:
    """Record that a unit sent a heartbeat; return when it was heard from before, if ever."""
    previous = (await previous_contacts(session, [unit_id])).get(unit_id)
    statement = upsert(session, UnitContact)
    statement = statement.on_conflict_do_update(
        index_elements=[UnitContact.unit_id],
        set_={
            "last_contact_at": greatest(
                session, statement.excluded.last_contact_at, UnitContact.last_contact_at
            ),
            "last_heartbeat_at": statement.excluded.last_heartbeat_at,
        },
    )
    await session.execute(
        statement, {"unit_id": unit_id, "last_contact_at": now, "last_heartbeat_at": now}
    )
    return previous
