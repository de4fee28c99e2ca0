"""The queries of data quality: baselines (in SQL on PostgreSQL, through the pure
:func:`stats.summarise` on SQLite), the caches of ingest's baselines and of the month values they
are merged from, flags, follow-ups."""

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Container, Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.kit.dialect import is_postgresql, keys_in, upsert
from ioc_hub.kit.periods import month_of
from ioc_hub.models import Indicator, Observation, OutlierBaseline, OutlierFlag, OutlierMonth, Unit
from ioc_hub.quality.stats import MAGNITUDE, Baseline, months_after, summarise, window_months

# SQLite takes at most 32,766 bound parameters per statement: a few a key.
_CHUNK = 5000


class Window(NamedTuple):
    """A series' baseline window: periods starting in [start, end)."""

    unit_id: int
    indicator_id: int
    start: date
    end: date


# The median by percentile_cont; the MAD by percentile_cont again over each window's values,
# kept in an array so that each window sorts its own few hundred deviations in memory (a second
# pass joining the values back costs a sort of them all, and twice the time).
_BASELINES = text("""
WITH w AS (
    SELECT * FROM unnest(CAST(:units AS integer[]), CAST(:indicators AS integer[]),
        CAST(:starts AS date[]), CAST(:ends AS date[])) AS w(unit_id, indicator_id, lo, hi)
),
g AS (
    SELECT w.unit_id, w.indicator_id, w.lo, w.hi, count(*) AS n, avg(o.value) AS mean,
        stddev_samp(o.value) AS sd,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY o.value) AS median,
        array_agg(o.value) AS vals
    FROM w JOIN observations o
        ON o.unit_id = w.unit_id AND o.indicator_id = w.indicator_id
        AND o.period_start >= w.lo AND o.period_start < w.hi
    WHERE abs(o.value) <= :magnitude
    GROUP BY w.unit_id, w.indicator_id, w.lo, w.hi
)
SELECT unit_id, indicator_id, lo, hi, n, mean, sd, median,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(x - g.median))
        FROM unnest(g.vals) AS x) AS mad
FROM g
""")


async def baselines(session: AsyncSession, windows: Iterable[Window]) -> dict[Window, Baseline]:
    """The baseline of each window, in one statement; windows holding no value are absent."""
    windows = sorted(set(windows))
    if not windows:
        return {}
    if is_postgresql(session):
        rows = await session.execute(
            _BASELINES,
            {
                "units": [w.unit_id for w in windows],
                "indicators": [w.indicator_id for w in windows],
                "starts": [w.start for w in windows],
                "ends": [w.end for w in windows],
                "magnitude": MAGNITUDE,
            },
        )
        return {
            Window(r.unit_id, r.indicator_id, r.lo, r.hi): Baseline(
                r.n, r.mean, r.sd, r.median, r.mad
            )
            for r in rows
        }
    return await _summarised(session, windows)


async def _summarised(session: AsyncSession, windows: Sequence[Window]) -> dict[Window, Baseline]:
    """SQLite has no median: read the windows' values once and summarise them in Python."""
    by_series: dict[tuple[int, int], list[Window]] = defaultdict(list)
    for w in windows:
        by_series[(w.unit_id, w.indicator_id)].append(w)
    first, last = min(w.start for w in windows), max(w.end for w in windows)
    values: dict[Window, list[float]] = defaultdict(list)
    async for unit_id, indicator_id, start, value in _series_values(
        session, list(by_series), first, last
    ):
        for w in by_series[(unit_id, indicator_id)]:
            if w.start <= start < w.end:
                values[w].append(value)
    found = {w: summarise(v) for w, v in values.items()}
    return {w: b for w, b in found.items() if b.n}


async def _series_values(
    session: AsyncSession, pairs: Sequence[tuple[int, int]], first: date, last: date
) -> AsyncIterator[tuple[int, int, date, float]]:
    """The (unit, indicator, period start, value) of the series ``pairs`` with periods starting
    in [first, last), a chunk of series a statement."""
    for offset in range(0, len(pairs), _CHUNK):
        rows = await session.execute(
            select(
                Observation.unit_id,
                Observation.indicator_id,
                Observation.period_start,
                Observation.value,
            ).where(
                keys_in(
                    session,
                    [Observation.unit_id, Observation.indicator_id],
                    pairs[offset : offset + _CHUNK],
                ),
                Observation.period_start >= first,
                Observation.period_start < last,
            )
        )
        for row in rows:
            yield row.unit_id, row.indicator_id, row.period_start, row.value


# --- the caches of ingest: baselines, and the months they are merged from ---------------------


# On PostgreSQL the keys come as arrays joined through unnest: a row-value IN list of a few
# hundred keys is a filter every row of the table is held against.
_KEYS = """
WITH k AS (
    SELECT * FROM unnest(CAST(:units AS integer[]), CAST(:indicators AS integer[]),
        CAST(:months AS date[])) AS k(u, i, m)
),
gone_months AS (
    DELETE FROM outlier_months o USING k
    WHERE o.unit_id = k.u AND o.indicator_id = k.i AND o.month = k.m
),
gone AS (
    DELETE FROM outlier_baselines b USING (SELECT DISTINCT u, i FROM k) s
    WHERE b.unit_id = s.u AND b.indicator_id = s.i AND b.month > :after
)
"""

_FORGET = text(_KEYS + "SELECT 1")

# The SELECT reads the table as it was before the DELETEs, so it leaves out the months they
# drop (those after :after) itself.
_FORGET_AND_READ = text(
    _KEYS
    + """
SELECT b.unit_id, b.indicator_id, b.month, b.n, b.mean, b.sd, b.median, b.mad
FROM outlier_baselines b JOIN k ON b.unit_id = k.u AND b.indicator_id = k.i AND b.month = k.m
WHERE b.months = :length AND b.month <= :after
"""
)

_Key = tuple[int, int, date]


def _arrays(keys: Sequence[_Key], months: int = 0) -> dict[str, Any]:
    units, indicators, firsts = zip(*keys, strict=True) if keys else ((), (), ())
    return {
        "units": list(units),
        "indicators": list(indicators),
        "months": list(firsts),
        "length": months,
    }


def _baselines_of(rows: Iterable[Any]) -> dict[_Key, Baseline]:
    """Rows of (unit_id, indicator_id, month, n, mean, sd, median, mad)."""
    return {(u, i, m): Baseline(*figures) for u, i, m, *figures in rows}


async def forget_and_read_baselines(
    session: AsyncSession, keys: Sequence[_Key], after: date, months: int, *, read: bool
) -> dict[_Key, Baseline]:
    """Values were written or deleted in the months of ``keys`` (unit, indicator, month), none
    before ``after``: drop those months' values, and the cached baselines of the keys' series for
    months after ``after`` (whose windows they may lie in); then, with ``read``, return the
    cached baselines of ``keys`` over ``months`` months that remain."""
    if is_postgresql(session):
        params = {**_arrays(keys, months), "after": after}
        if not read:
            await session.execute(_FORGET, params)
            return {}
        return _baselines_of(await session.execute(_FORGET_AND_READ, params))
    m = OutlierMonth
    for offset in range(0, len(keys), _CHUNK):
        chunk = keys[offset : offset + _CHUNK]
        await session.execute(
            delete(m).where(keys_in(session, [m.unit_id, m.indicator_id, m.month], chunk))
        )
    series = sorted({(u, i) for u, i, _ in keys})
    for offset in range(0, len(series), _CHUNK):
        await session.execute(
            delete(OutlierBaseline).where(
                keys_in(
                    session,
                    [OutlierBaseline.unit_id, OutlierBaseline.indicator_id],
                    series[offset : offset + _CHUNK],
                ),
                OutlierBaseline.month > after,
            )
        )
    return await _cached_baselines(session, keys, months) if read else {}


async def forget_months(session: AsyncSession, keys: Sequence[_Key]) -> None:
    """Values of the months of ``keys`` were deleted: drop what was cached from them."""
    if keys:
        ordered = sorted(set(keys))
        await forget_and_read_baselines(session, ordered, ordered[0][2], 0, read=False)


async def _cached_baselines(
    session: AsyncSession, keys: Sequence[_Key], months: int
) -> dict[_Key, Baseline]:
    """The cached baselines of (unit, indicator, month) keys over ``months`` months (SQLite:
    PostgreSQL reads them in :func:`look` and :func:`forget_and_read_baselines`)."""
    b = OutlierBaseline
    rows: list[Any] = []
    for offset in range(0, len(keys), _CHUNK):
        rows += await session.execute(
            select(b.unit_id, b.indicator_id, b.month, b.n, b.mean, b.sd, b.median, b.mad).where(
                keys_in(
                    session, [b.unit_id, b.indicator_id, b.month], keys[offset : offset + _CHUNK]
                ),
                b.months == months,
            )
        )
    return _baselines_of(rows)


# Series share a fixed number of locks, so that a batch of any size takes at most this many:
# PostgreSQL's lock table holds about max_locks_per_transaction × max_connections locks (6,400 by
# default) for all transactions at once, and a batch may name 10,000 series.
_STRIPES = 256
# The first integer of the two-integer form: the hub takes no other lock of that form.
_LOCK_SPACE = 1

# In stripe order, so that no two batches wait on each other in a cycle.
_LOCK_STRIPES = text("""
SELECT count(CASE WHEN t.computes THEN pg_advisory_xact_lock(:space, t.stripe)
    ELSE pg_advisory_xact_lock_shared(:space, t.stripe) END)
FROM unnest(CAST(:stripes AS integer[]), CAST(:computes AS boolean[])) AS t(stripe, computes)
""")


def _stripe(series: tuple[int, int]) -> int:
    unit_id, indicator_id = series
    return (unit_id * 31 + indicator_id) % _STRIPES


async def lock_series(
    session: AsyncSession, series: Iterable[tuple[int, int]], computes: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Lock the caches of ``series``, which the transaction writes, until it ends; return those
    whose computed baselines and months it may keep: on PostgreSQL those it locked to compute
    (``computes``, and any sharing their locks), on SQLite all, as it has one writer at a time.

    PostgreSQL's transaction-level advisory locks, one per stripe of series: shared to write,
    exclusive to compute. A computation then waits for every write of the series in flight and
    reads it, and a write takes the lock before it drops what it makes stale, so a baseline
    computed without it is never stored after the drop. Concurrent batches of one series compute
    its baseline once: the later ones read what the first stored."""
    series = set(series)
    if not is_postgresql(session):
        return series
    exclusive = {_stripe(s) for s in computes}
    stripes = sorted({_stripe(s) for s in series})
    if stripes:
        await session.execute(
            _LOCK_STRIPES,
            {
                "space": _LOCK_SPACE,
                "stripes": stripes,
                "computes": [stripe in exclusive for stripe in stripes],
            },
        )
    return {s for s in series if _stripe(s) in exclusive}


# The keys whose baselines are not cached; when there are none, the shared locks of the batch's
# stripes taken in the same statement, in stripe order (the round trip of :func:`lock_series`
# saved for the batches that compute nothing, nearly all of them). What it read may change before
# the locks are granted: the caller reads the baselines again once it holds them.
_LOOK = text("""
WITH missing AS (
    SELECT k.u, k.i, k.m
    FROM unnest(CAST(:units AS integer[]), CAST(:indicators AS integer[]),
        CAST(:months AS date[])) AS k(u, i, m)
    WHERE NOT EXISTS (
        SELECT 1 FROM outlier_baselines b
        WHERE b.unit_id = k.u AND b.indicator_id = k.i AND b.month = k.m AND b.months = :length
    )
),
locked AS (
    SELECT count(pg_advisory_xact_lock_shared(:space, t.stripe)) AS stripes
    FROM unnest(CAST(:stripes AS integer[])) AS t(stripe)
    WHERE NOT EXISTS (SELECT 1 FROM missing)
)
SELECT (SELECT stripes FROM locked) > 0 AS locked, missing.u, missing.i, missing.m
FROM (SELECT 1) AS one LEFT JOIN missing ON true
""")


async def look(
    session: AsyncSession,
    keys: Sequence[_Key],
    months: int,
    lock: Iterable[tuple[int, int]] | None,
) -> tuple[list[_Key], bool]:
    """The (unit, indicator, month) keys whose baselines over ``months`` months are not cached,
    and whether the shared locks of the series ``lock`` were taken (:func:`lock_series`): on
    PostgreSQL, in the same statement when no key is missing. SQLite locks nothing."""
    if not is_postgresql(session):
        cached = await _cached_baselines(session, keys, months)
        return [k for k in keys if k not in cached], False
    stripes = sorted({_stripe(s) for s in lock or ()})
    rows = (
        await session.execute(
            _LOOK, {**_arrays(keys, months), "space": _LOCK_SPACE, "stripes": stripes}
        )
    ).all()
    return [(r.u, r.i, r.m) for r in rows if r.u is not None], bool(rows[0].locked)


# The lock of the one transaction at a time that computes and keeps baselines (its first
# integer: the stripes' is _LOCK_SPACE).
_LEADER = (2, 0)

# A transaction holding series' locks already (a push tried again after the registry changed
# under it) neither becomes the leader nor waits for one: it may hold rows the leader's batch
# waits for, and taking its series exclusively now would wait on batches that wait on it.
_LEAD = text("""
WITH given AS (
    SELECT CAST(:space AS integer) AS space, CAST(:key AS integer) AS key,
        CAST(:stripe_space AS integer) AS stripe_space
),
held AS (
    SELECT
        EXISTS (SELECT 1 FROM pg_locks, given WHERE locktype = 'advisory'
            AND pid = pg_backend_pid() AND classid = given.stripe_space AND objsubid = 2)
            AS stripes,
        EXISTS (SELECT 1 FROM pg_locks, given WHERE locktype = 'advisory'
            AND pid = pg_backend_pid() AND classid = given.space AND objid = given.key
            AND objsubid = 2 AND granted AND mode = 'ExclusiveLock') AS leads
)
SELECT CASE WHEN held.stripes THEN held.leads
        ELSE pg_try_advisory_xact_lock(given.space, given.key) END AS leads,
    held.stripes
FROM held, given
""")
# Waits for the leader to end, and holds nothing after: taken and given back in one statement
# (OFFSET 0 keeps the taking first).
_AWAIT_LEADER = text("""
SELECT pg_advisory_unlock_shared(:space, :key)
FROM (SELECT pg_advisory_lock_shared(:space, :key) OFFSET 0) AS waited
""")


async def lead(session: AsyncSession) -> bool:
    """Whether this transaction may compute and keep baselines: on PostgreSQL, whether no other
    in flight does (it then does, until it ends). One that may not waits here until the one
    that does has ended, then returns False, to look again at what is kept.

    Without it, every batch reaching a new month while the first computes its baselines would
    lock its series exclusively to compute them too, find them kept once it held the locks, and
    hold the next batch back through its whole write (docs/design.md §9). Only the leader
    locks series exclusively, so no two transactions wait to do so on each other; and a
    transaction already holding series' locks neither waits here (the leader may be waiting for
    it) nor starts to lead."""
    if not is_postgresql(session):
        return True
    space, key = _LEADER
    params = {"space": space, "key": key, "stripe_space": _LOCK_SPACE}
    leads, holds_series = (await session.execute(_LEAD, params)).one()
    if leads or holds_series:
        return bool(leads)
    await session.execute(_AWAIT_LEADER, params)
    return False


async def cache_baselines(
    session: AsyncSession, computed: dict[tuple[int, int, date], Baseline], months: int
) -> None:
    if not computed:
        return
    statement = upsert(session, OutlierBaseline)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[
            OutlierBaseline.unit_id,
            OutlierBaseline.indicator_id,
            OutlierBaseline.month,
        ],
        set_={c: getattr(new, c) for c in ("months", "n", "mean", "sd", "median", "mad")},
    )
    # In key order, so that concurrent batches take the rows' locks in the same order.
    await session.execute(
        statement,
        [
            {
                "unit_id": u,
                "indicator_id": i,
                "month": m,
                "months": months,
                "n": b.n,
                "mean": b.mean,
                "sd": b.sd,
                "median": b.median,
                "mad": b.mad,
            }
            for (u, i, m), b in sorted(computed.items())
        ],
    )


_MONTHS_CACHED = text("""
SELECT m.unit_id, m.indicator_id, m.month, m.month_values
FROM outlier_months m
JOIN unnest(CAST(:units AS integer[]), CAST(:indicators AS integer[]), CAST(:months AS date[]))
    AS k(u, i, m) ON m.unit_id = k.u AND m.indicator_id = k.i AND m.month = k.m
""")

# The keys of a statement, (unit, indicator, month), as bound arrays.
_GIVEN = """
SELECT * FROM unnest(CAST(:units AS integer[]), CAST(:indicators AS integer[]),
    CAST(:months AS date[])) AS given(u, i, m)
"""


def _reading_months(keys: str) -> str:
    """The values of each month of ``keys`` (a query of (u, i, m)), read from observations.
    Each indicator of the keys is read once over the span of their months, through the index
    on (indicator, period start) (OFFSET 0 keeps the planner from turning it into a join that
    walks each series' whole history instead), kept to the keys' series and grouped by month.
    A month holding no value is an empty array, and is kept too, so that it is not looked for
    again.

    The keys' series are a semi-join (IN), which PostgreSQL hashes whatever it estimates: a
    connection's plan of this statement may be generic after its fifth run, with the bound arrays
    estimated at 10 keys, and a join to them then became a nested loop holding every value read
    against every series (docs/design.md §7)."""
    return f"""
WITH k AS ({keys}),
r AS (
    SELECT i, min(m) AS lo, CAST(max(m) + interval '1 month' AS date) AS hi FROM k GROUP BY i
),
v AS (
    SELECT o.unit_id AS u, o.indicator_id AS i,
        CAST(date_trunc('month', o.period_start) AS date) AS m, array_agg(o.value) AS vals
    FROM r CROSS JOIN LATERAL (
        SELECT unit_id, indicator_id, period_start, value FROM observations
        WHERE indicator_id = r.i AND period_start >= r.lo AND period_start < r.hi
            AND abs(value) <= :magnitude
        OFFSET 0
    ) o
    WHERE (o.unit_id, o.indicator_id) IN (SELECT u, i FROM k)
    GROUP BY 1, 2, 3
)
"""


_MONTHS_FOUND = "SELECT k.u, k.i, k.m, coalesce(v.vals, CAST('{}' AS double precision[]))"
_MONTHS_JOINED = "FROM k LEFT JOIN v ON v.u = k.u AND v.i = k.i AND v.m = k.m"
_MONTHS_UNKEPT = text(f"{_reading_months(_GIVEN)} {_MONTHS_FOUND} {_MONTHS_JOINED}")
# The months of the keys ``outlier_months`` lacks, read and kept.
_MISSING = f"""
SELECT * FROM ({_GIVEN}) g WHERE NOT EXISTS (
    SELECT 1 FROM outlier_months o WHERE o.unit_id = g.u AND o.indicator_id = g.i AND o.month = g.m
)
"""
_MONTHS_KEPT = text(f"""{_reading_months(_MISSING)}
INSERT INTO outlier_months (unit_id, indicator_id, month, month_values)
{_MONTHS_FOUND} {_MONTHS_JOINED}
ORDER BY k.u, k.i, k.m
ON CONFLICT (unit_id, indicator_id, month) DO UPDATE SET month_values = excluded.month_values
""")

# Each key's baseline merged from the kept values of the :length months before its month, as
# :func:`stats.summarise` merges them (the MAD from the values kept in an array, as in
# _BASELINES), and cached, in key order so that concurrent batches lock the rows alike. Each key
# reads its own months through the primary key: grouping all the keys' values at once sorted
# them all together, in twice the time.
_MERGED = text(f"""
WITH k AS ({_GIVEN})
INSERT INTO outlier_baselines AS b (unit_id, indicator_id, month, months, n, mean, sd, median,
    mad)
SELECT k.u, k.i, k.m, :length, g.n, g.mean, g.sd, g.median,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(y - g.median))
        FROM unnest(g.vals) AS y)
FROM k CROSS JOIN LATERAL (
    SELECT count(*) AS n, avg(x) AS mean, stddev_samp(x) AS sd,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median, array_agg(x) AS vals
    FROM outlier_months o CROSS JOIN LATERAL unnest(o.month_values) AS v(x)
    WHERE o.unit_id = k.u AND o.indicator_id = k.i
        AND o.month >= CAST(k.m - make_interval(months => :length) AS date) AND o.month < k.m
) AS g
ORDER BY k.u, k.i, k.m
ON CONFLICT (unit_id, indicator_id, month) DO UPDATE SET months = excluded.months,
    n = excluded.n, mean = excluded.mean, sd = excluded.sd, median = excluded.median,
    mad = excluded.mad
RETURNING b.unit_id, b.indicator_id, b.month, b.n, b.mean, b.sd, b.median, b.mad
""")


async def merged_baselines(
    session: AsyncSession, keys: Sequence[_Key], months: int, keep: Container[tuple[int, int]]
) -> dict[_Key, Baseline]:
    """The baseline of each (unit, indicator, month) key, merged from its series' values in the
    ``months`` months before its month. Those of the series in ``keep`` (the caller locked them
    to compute: :func:`lock_series`) are cached, with the months' values read for them.

    PostgreSQL merges those in SQL, from the kept months (reading any missing one from
    observations): a month's first batch computes every series' baseline, and the others wait
    for it. The rest, and all of them on SQLite, are merged here by :func:`stats.summarise`."""
    keys = sorted(set(keys))
    merged: dict[_Key, Baseline] = {}
    if is_postgresql(session):
        in_sql = [k for k in keys if k[:2] in keep]
        if in_sql:
            wanted = sorted({(u, i, w) for u, i, m in in_sql for w in window_months(m, months)})
            await session.execute(_MONTHS_KEPT, {**_arrays(wanted), "magnitude": MAGNITUDE})
            merged = _baselines_of(await session.execute(_MERGED, _arrays(in_sql, months)))
        keys = [k for k in keys if k[:2] not in keep]
    if not keys:
        return merged
    windows = {k: window_months(k[2], months) for k in keys}
    values = await _month_values(
        session, {(u, i, w) for (u, i, _), ws in windows.items() for w in ws}, keep
    )
    computed = {
        (u, i, m): summarise(itertools.chain.from_iterable(values[(u, i, w)] for w in ws))
        for (u, i, m), ws in windows.items()
    }
    await cache_baselines(session, {k: b for k, b in computed.items() if k[:2] in keep}, months)
    return merged | computed


async def _month_values(
    session: AsyncSession, keys: Iterable[_Key], keep: Container[tuple[int, int]]
) -> dict[_Key, list[float]]:
    """The values of each (unit, indicator, month) key, from ``outlier_months`` where it holds
    them, else read from observations; on SQLite, kept there for the series in ``keep`` (those
    the caller locked to compute: :func:`lock_series`), which PostgreSQL keeps in
    :func:`merged_baselines`. Values beyond ``MAGNITUDE`` are left out, as baselines leave them
    out."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    found = await _cached_months(session, keys)
    missing = [k for k in keys if k not in found]
    if not missing:
        return found
    if is_postgresql(session):
        params = {**_arrays(missing), "magnitude": MAGNITUDE}
        rows = await session.execute(_MONTHS_UNKEPT, params)
        return found | {(r[0], r[1], r[2]): list(r[3]) for r in rows}
    computed = await _months_read(session, missing)
    kept = [k for k in missing if k[:2] in keep]
    if kept:
        await session.execute(
            upsert(session, OutlierMonth).on_conflict_do_nothing(),
            [
                {"unit_id": u, "indicator_id": i, "month": m, "month_values": computed[u, i, m]}
                for u, i, m in kept
            ],
        )
    return found | computed


async def _cached_months(session: AsyncSession, keys: Sequence[_Key]) -> dict[_Key, list[float]]:
    """The values ``outlier_months`` holds of the keys' months."""
    if is_postgresql(session):
        rows = list(await session.execute(_MONTHS_CACHED, _arrays(keys)))
    else:
        m = OutlierMonth
        rows = []
        for offset in range(0, len(keys), _CHUNK):
            rows += await session.execute(
                select(m.unit_id, m.indicator_id, m.month, m.month_values).where(
                    keys_in(
                        session,
                        [m.unit_id, m.indicator_id, m.month],
                        keys[offset : offset + _CHUNK],
                    )
                )
            )
    return {(r[0], r[1], r[2]): list(r[3]) for r in rows}


async def _months_read(session: AsyncSession, keys: Sequence[_Key]) -> dict[_Key, list[float]]:
    """The values of each key's month, read from observations (SQLite)."""
    values: dict[_Key, list[float]] = {k: [] for k in keys}
    first = min(month for _, _, month in keys)
    last = max(month for _, _, month in keys)
    pairs = sorted({(u, i) for u, i, _ in keys})
    async for unit_id, indicator_id, start, value in _series_values(
        session, pairs, first, months_after(last, 1)
    ):
        bucket = values.get((unit_id, indicator_id, month_of(start)))
        if bucket is not None and abs(value) <= MAGNITUDE:
            bucket.append(value)
    return values


async def insert_flags(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(OutlierFlag), rows)


# --- the outliers route -----------------------------------------------------------------------


class Judged(NamedTuple):
    """A stored value the outliers route judges, with what its row shows."""

    unit_id: int
    unit: str
    indicator_id: int
    indicator: str
    min_value: float | None
    max_value: float | None
    period: str
    period_start: date
    value: float


async def values_in(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    start: date,
    end: date,
    limit: int,
) -> list[Judged]:
    """Stored values with periods starting in [start, end) under ``conditions`` (over
    ``Unit`` and ``Indicator``), at most ``limit``."""
    rows = await session.execute(
        select(
            Observation.unit_id,
            Unit.code,
            Observation.indicator_id,
            Indicator.code,
            Indicator.min_value,
            Indicator.max_value,
            Observation.period,
            Observation.period_start,
            Observation.value,
        )
        .join(Unit, Unit.id == Observation.unit_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .where(Observation.period_start >= start, Observation.period_start < end, *conditions)
        .limit(limit)
    )
    return [Judged(*r) for r in rows]
