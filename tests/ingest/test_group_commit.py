"""Group commit (``ingest.group_commit``): concurrent small pushes without an Idempotency-Key
share one PostgreSQL statement, yet each is answered from its own rows, never shares a statement
with a push of the same natural key, and fails or succeeds as the rules say.

The first test goes through the HTTP API and runs on both engines; the rest drive a
:class:`GroupCommit` of their own against the test database, so they run on PostgreSQL only.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access import service as access
from ioc_hub.config import Settings
from ioc_hub.ingest import group_commit
from ioc_hub.ingest.group_commit import GroupCommit
from ioc_hub.ingest.repository import (
    Advance,
    Contact,
    KeyNotLive,
    StaleRegistry,
    Write,
    WriteCounts,
)
from ioc_hub.ingest.validation import ValidRow
from ioc_hub.models import (
    Indicator,
    Observation,
    ObservationRevision,
    RegistryGeneration,
    Scope,
    SeriesState,
    Unit,
    UnitContact,
)
from tests.conftest import Clock, MintKey, bearer

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # 17:00 in Asia/Ho_Chi_Minh
LATER = NOW + timedelta(hours=1)
DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000; communes report it
DAY = "2026-11-27"
DAY_START = date(2026, 11, 27)
WAIT = 15  # seconds: a guard against hanging, never a timing assertion

NaturalKey = tuple[int, int, str]


async def commune_units(factory: async_sessionmaker[AsyncSession], n: int) -> list[Unit]:
    async with factory() as session:
        units = await session.scalars(
            select(Unit).where(Unit.kind == "commune", Unit.active).order_by(Unit.code).limit(n)
        )
        found = list(units)
    assert len(found) == n, "the seeded registry has enough communes"
    return found


async def stored_values(factory: async_sessionmaker[AsyncSession]) -> dict[NaturalKey, float]:
    async with factory() as session:
        rows = (
            await session.execute(
                select(
                    Observation.unit_id,
                    Observation.indicator_id,
                    Observation.period,
                    Observation.value,
                )
            )
        ).all()
    keys = [(r.unit_id, r.indicator_id, r.period) for r in rows]
    assert len(keys) == len(set(keys)), "each natural key is stored once"
    return {(r.unit_id, r.indicator_id, r.period): r.value for r in rows}


async def revision_chain(
    factory: async_sessionmaker[AsyncSession],
) -> dict[int, list[tuple[float, float]]]:
    """(old, new) values of every revision, by unit, in revision order."""
    async with factory() as session:
        rows = (
            await session.execute(
                select(
                    Observation.unit_id,
                    ObservationRevision.old_value,
                    ObservationRevision.new_value,
                )
                .join(Observation, Observation.id == ObservationRevision.observation_id)
                .order_by(Observation.unit_id, ObservationRevision.revision)
            )
        ).all()
    chains: dict[int, list[tuple[float, float]]] = {}
    for unit_id, old, new in rows:
        chains.setdefault(unit_id, []).append((old, new))
    return chains


# --- Through the API, both engines -----------------------------------------------------------


async def test_concurrent_single_row_pushes_are_each_answered_from_their_own_row(
    client: httpx.AsyncClient,
    seeded: None,
    mint_key: MintKey,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    units = await commune_units(session_factory, 30)
    keys = [bearer(await mint_key(u.code, Scope.OBSERVATIONS_WRITE)) for u in units]
    async with session_factory() as session:
        indicator = await session.scalar(select(Indicator.id).where(Indicator.code == DAILY))
    assert indicator is not None

    def body(value: float) -> dict[str, Any]:
        return {"observations": [{"indicator": DAILY, "value": value, "period": DAY}]}

    async def send(auth: dict[str, str], value: float) -> httpx.Response:
        return await client.post("/api/v1/observations", json=body(value), headers=auth)

    # Units 0-9 will re-send the same value, 10-19 a new one, 20-29 are new.
    clock.now = NOW
    first = [await send(keys[i], 100 + i) for i in range(20)]
    assert all(r.status_code == 200 for r in first), [r.text for r in first]

    clock.now = LATER
    values = [100.0 + i if i < 10 else 500.0 + i for i in range(30)]
    answers = await asyncio.gather(*(send(keys[i], values[i]) for i in range(30)))

    for i, answer in enumerate(answers):
        assert answer.status_code == 200, answer.text
        created, updated, unchanged = (0, 0, 1) if i < 10 else (0, 1, 0) if i < 20 else (1, 0, 0)
        assert answer.json() == {
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "superseded": 0,
            "rejected": 0,
            "errors": [],
        }, f"unit {units[i].code}"

    assert await stored_values(session_factory) == {
        (u.id, indicator, DAY): values[i] for i, u in enumerate(units)
    }
    assert await revision_chain(session_factory) == {
        units[i].id: [(100.0 + i, values[i])] for i in range(10, 20)
    }
    async with session_factory() as session:
        series = {
            s.unit_id: (s.last_period, s.last_value, s.last_received_at)
            for s in await session.scalars(select(SeriesState))
        }
        contacts = {c.unit_id: c.last_push_at for c in await session.scalars(select(UnitContact))}
    # An unchanged value does not move last_received_at; any push is a contact.
    assert series == {u.id: (DAY, values[i], NOW if i < 10 else LATER) for i, u in enumerate(units)}
    assert contacts == {u.id: LATER for u in units}


# --- A GroupCommit of the test's own, PostgreSQL only ----------------------------------------


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("group commit is PostgreSQL only: SQLite writes in the request's transaction")
    return database_url


@dataclass(frozen=True)
class World:
    units: list[int]
    """Commune unit ids."""
    keys: list[int]
    """A live observations:write key of each unit, in the same order."""
    indicator: int
    generation: int

    def row(self, i: int, value: float, *, day: int = 27) -> ValidRow:
        return ValidRow(
            self.units[i],
            self.indicator,
            f"2026-11-{day:02d}",
            date(2026, 11, day),
            value,
            None,
        )

    def key_of(self, i: int) -> NaturalKey:
        return (self.units[i], self.indicator, DAY)

    def write(
        self,
        group: GroupCommit,
        i: int,
        value: float,
        *,
        now: datetime = NOW,
        generation: int | None = None,
    ) -> Coroutine[Any, Any, WriteCounts]:
        """Unit ``i`` pushes ``value`` for the day with its own key, through ``group``."""
        return group.write(
            [self.row(i, value)],
            key_id=self.keys[i],
            now=now,
            generation=self.generation if generation is None else generation,
        )


@pytest.fixture
async def world(
    pg_url: str, seeded: None, session_factory: async_sessionmaker[AsyncSession]
) -> World:
    units = await commune_units(session_factory, 24)
    async with session_factory() as session, session.begin():
        keys = [
            (await access.mint_key(session, u, [Scope.OBSERVATIONS_WRITE], "gc")).id for u in units
        ]
        indicator = await session.scalar(select(Indicator.id).where(Indicator.code == DAILY))
        generation = await session.scalar(
            select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
        )
    assert indicator is not None
    assert generation is not None
    return World([u.id for u in units], keys, indicator, generation)


MakeGroup = Callable[..., Awaitable[GroupCommit]]


@pytest.fixture
async def make_group(pg_url: str) -> AsyncIterator[MakeGroup]:
    """``await make_group(ingest_merge_rows=3)`` → a GroupCommit (it connects on first use),
    closed after the test."""
    made: list[GroupCommit] = []

    async def make(**settings: Any) -> GroupCommit:
        group = GroupCommit(Settings(database_url=pg_url, **settings))
        made.append(group)
        return group

    yield make
    for group in made:
        async with asyncio.timeout(WAIT):
            await group.close()


class Recorder:
    """Wraps a group's ``_execute``: records every statement's writes and generation, and can
    hold the first statement until :attr:`release` is set (the statement slot stays busy)."""

    def __init__(
        self, group: GroupCommit, monkeypatch: pytest.MonkeyPatch, *, hold_first: bool = False
    ) -> None:
        self.statements: list[tuple[int, list[Write]]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        original = group._execute

        async def execute(writes: Sequence[Write], generation: int) -> list[WriteCounts | None]:
            self.statements.append((generation, list(writes)))
            first = len(self.statements) == 1
            self.entered.set()
            if first:
                await self.release.wait()
            return await original(writes, generation)

        monkeypatch.setattr(group, "_execute", execute)

    async def hold(self, write: Coroutine[Any, Any, WriteCounts]) -> "asyncio.Task[WriteCounts]":
        """Start ``write`` and wait until its statement is held: the statement slot is busy."""
        task = asyncio.create_task(write)
        async with asyncio.timeout(WAIT):
            await self.entered.wait()
        return task

    @property
    def groups(self) -> list[list[Write]]:
        return [writes for _, writes in self.statements]


def natural_keys(write: Write) -> set[NaturalKey]:
    return {(r.unit_id, r.indicator_id, r.period) for r in write.rows}


async def until_waiting(group: GroupCommit, n: int) -> None:
    """Until ``n`` pushes wait for a statement."""
    for _ in range(1000):
        if len(group._waiting) >= n:
            return
        await asyncio.sleep(0)
    pytest.fail(f"{len(group._waiting)} writes wait, not {n}")


async def test_concurrent_writes_share_statements_and_get_their_own_counts(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    w = world
    before = await group.write(
        [w.row(i, 100 + i) for i in range(10)], key_id=w.keys[0], now=NOW, generation=w.generation
    )
    assert (before.created, before.updated, before.unchanged) == (10, 0, 0)

    recorder = Recorder(group, monkeypatch)
    # 0-4 re-send the same value, 5-9 change it, 10-19 are new.
    values = [100.0 + i if i < 5 else 500.0 + i for i in range(20)]
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(
            *(
                group.write(
                    [w.row(i, values[i])], key_id=w.keys[i], now=LATER, generation=w.generation
                )
                for i in range(20)
            )
        )

    for i, counts in enumerate(answers):
        unit = w.units[i]
        if i < 5:
            expected = WriteCounts(unchanged=1)
        elif i < 10:
            expected = WriteCounts(updated=1, per_unit={unit: (0, 1)})
        else:
            expected = WriteCounts(
                created=1,
                per_unit={unit: (1, 0)},
                advanced=[Advance(unit, w.indicator, DAY, DAY_START, None, None)],
                # Never heard from before: its contact is reported, to this push only.
                contacts=[Contact(unit, LATER, None)],
            )
        assert counts == expected, f"write {i}"

    sizes = [len(g) for g in recorder.groups]
    assert sum(sizes) == 20
    assert len(sizes) < 20, f"no write shared a statement: {sizes}"
    assert max(sizes) > 1
    assert await stored_values(session_factory) == {w.key_of(i): values[i] for i in range(20)}
    assert await revision_chain(session_factory) == {
        w.units[i]: [(100.0 + i, values[i])] for i in range(5, 10)
    }


async def test_writes_of_one_natural_key_never_share_a_statement(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch)
    w = world
    # Unit 0 is pushed three times (values 1, 2, 3), interleaved with pushes of units 1-6.
    plan = [(0, 1.0), (1, 10.0), (2, 20.0), (0, 2.0), (3, 30.0), (4, 40.0), (0, 3.0)]
    plan += [(5, 50.0), (6, 60.0)]
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(*(w.write(group, i, v) for i, v in plan))

    for writes in recorder.groups:
        keys = [k for write in writes for k in natural_keys(write)]
        assert len(keys) == len(set(keys)), f"a natural key twice in one statement: {keys}"
    assert len(recorder.groups) >= 3, "three writes of one key need three statements"
    assert any(len(g) > 1 for g in recorder.groups), "the others were merged"

    of_unit_0 = [
        (a.created, a.updated, a.unchanged)
        for (i, _), a in zip(plan, answers, strict=True)
        if i == 0
    ]
    assert of_unit_0 == [(1, 0, 0), (0, 1, 0), (0, 1, 0)]
    stored = await stored_values(session_factory)
    assert stored == {w.key_of(i): v for i, v in plan}
    assert stored[w.key_of(0)] == 3.0, "the last write applied, in the order they waited"
    assert (await revision_chain(session_factory))[w.units[0]] == [(1.0, 2.0), (2.0, 3.0)]


async def test_a_revoked_key_fails_alone_in_a_merged_statement(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch)
    w = world
    async with session_factory() as session, session.begin():
        await session.execute(
            text("UPDATE access_keys SET revoked_at = now() WHERE id = :id"), {"id": w.keys[3]}
        )

    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(
            *(w.write(group, i, i) for i in range(6)),
            return_exceptions=True,
        )

    assert isinstance(answers[3], KeyNotLive)
    for i in (0, 1, 2, 4, 5):
        counts = answers[i]
        assert isinstance(counts, WriteCounts), f"write {i}: {counts!r}"
        assert (counts.created, counts.updated, counts.unchanged) == (1, 0, 0)
    [shared] = [g for g in recorder.groups if any(x.key_id == w.keys[3] for x in g)]
    assert len(shared) > 1, "the revoked key's write was merged with others"
    assert await stored_values(session_factory) == {w.key_of(i): float(i) for i in (0, 1, 2, 4, 5)}


async def test_a_stale_generation_writes_nothing_and_is_never_merged_with_a_fresh_one(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    w = world
    stale = w.generation - 1

    with pytest.raises(StaleRegistry):
        async with asyncio.timeout(WAIT):
            await w.write(group, 0, 1, generation=stale)
    assert await stored_values(session_factory) == {}

    recorder = Recorder(group, monkeypatch)
    generations = {i: (w.generation if i % 2 == 0 else stale) for i in range(8)}
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(
            *(w.write(group, i, i, generation=generation) for i, generation in generations.items()),
            return_exceptions=True,
        )

    for i, answer in enumerate(answers):
        if generations[i] == stale:
            assert isinstance(answer, StaleRegistry), f"write {i}: {answer!r}"
        else:
            assert isinstance(answer, WriteCounts), f"write {i}: {answer!r}"
            assert answer.created == 1
    by_unit = {u: i for i, u in enumerate(w.units)}
    for generation, writes in recorder.statements:
        for write in writes:
            [row] = write.rows
            assert generations[by_unit[row.unit_id]] == generation, "merged across generations"
    assert any(len(g) > 1 for g in recorder.groups)
    assert await stored_values(session_factory) == {
        w.key_of(i): float(i) for i in range(8) if generations[i] == w.generation
    }


async def test_merged_statements_hold_at_most_merge_rows_rows(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1, ingest_merge_rows=3)
    recorder = Recorder(group, monkeypatch)
    w = world
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(*(w.write(group, i, i) for i in range(7)))
    assert [a.created for a in answers] == [1] * 7
    rows = [sum(len(x.rows) for x in g) for g in recorder.groups]
    assert sum(rows) == 7
    assert max(rows) <= 3, rows
    assert max(rows) > 1, rows
    assert len(await stored_values(session_factory)) == 7


async def test_a_push_of_merge_rows_rows_runs_its_own_statement_at_once(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1, ingest_merge_rows=3)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world
    small = await recorder.hold(w.write(group, 0, 1))  # the only small-push statement is now busy

    async with asyncio.timeout(WAIT):
        large = await group.write(
            [w.row(i, i) for i in (1, 2, 3)], key_id=w.keys[1], now=NOW, generation=w.generation
        )
    assert (large.created, large.updated, large.unchanged) == (3, 0, 0)
    assert not small.done(), "the large push did not wait for the busy statement"
    assert [len(g) for g in recorder.groups] == [1, 1]
    [large_write] = recorder.groups[1]
    assert len(large_write.rows) == 3
    assert await stored_values(session_factory) == {w.key_of(i): float(i) for i in (1, 2, 3)}

    recorder.release.set()
    async with asyncio.timeout(WAIT):
        assert (await small).created == 1
    assert len(await stored_values(session_factory)) == 4


async def test_a_write_cancelled_while_waiting_is_not_stored(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world

    def write(i: int) -> "asyncio.Task[WriteCounts]":
        return asyncio.create_task(w.write(group, i, i))

    first = write(0)
    async with asyncio.timeout(WAIT):
        await recorder.entered.wait()
    second, third = write(1), write(2)
    await until_waiting(group, 2)
    second.cancel()
    recorder.release.set()

    async with asyncio.timeout(WAIT):
        assert (await first).created == 1
        assert (await third).created == 1
        with pytest.raises(asyncio.CancelledError):
            await second
    assert [[x.key_id for x in g] for g in recorder.groups] == [[w.keys[0]], [w.keys[2]]]
    assert await stored_values(session_factory) == {w.key_of(0): 0.0, w.key_of(2): 2.0}


async def test_a_write_cancelled_after_it_was_taken_is_still_stored(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """As documented: the client left after its rows were in a statement."""
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world
    taken = await recorder.hold(w.write(group, 0, 7))
    taken.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(WAIT):
            await taken
    recorder.release.set()
    async with asyncio.timeout(WAIT):
        # The next write is stored after the held statement: then that one has finished.
        after = await w.write(group, 1, 8)
    assert after.created == 1
    assert await stored_values(session_factory) == {w.key_of(0): 7.0, w.key_of(1): 8.0}


async def test_a_failed_statement_fails_every_write_in_it_and_stores_none(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch)
    w = world
    unknown_indicator = ValidRow(w.units[4], 10**6, DAY, DAY_START, 1.0, None)
    writes = [[w.row(i, i)] for i in range(4)] + [[unknown_indicator]]
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(
            *(
                group.write(rows, key_id=w.keys[i], now=NOW, generation=w.generation)
                for i, rows in enumerate(writes)
            ),
            return_exceptions=True,
        )
    assert [len(g) for g in recorder.groups] == [5], "all five shared the statement"
    assert all(isinstance(a, asyncpg.ForeignKeyViolationError) for a in answers), answers
    assert await stored_values(session_factory) == {}, "the statement stored nothing"

    async with asyncio.timeout(WAIT):
        again = await w.write(group, 0, 0)
    assert again.created == 1, "the next statement works"


async def test_a_connection_failure_reaches_every_waiting_write(
    world: World, make_group: MakeGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = await make_group(ingest_statements=1)
    calls: list[int] = []

    async def broken(_: object, writes: Sequence[Write], generation: int) -> list[None]:
        calls.append(len(writes))
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(group_commit, "write_many", broken)
    w = world
    async with asyncio.timeout(WAIT):
        answers = await asyncio.gather(
            *(w.write(group, i, i) for i in range(6)),
            return_exceptions=True,
        )
    assert all(isinstance(a, ConnectionResetError) for a in answers), answers
    assert sum(calls) == 6
    assert len(calls) < 6, "the failure was a shared statement's"


async def test_a_connection_that_failed_mid_statement_is_not_reused(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Group commit runs no reset round trip between statements, so a connection left inside
    the protocol by a lost, timed-out or cancelled statement must be discarded, not handed to
    the next one (seen in the outage test: 'cannot switch to state 12; another operation is in
    progress')."""
    group = await make_group(ingest_statements=1)
    backends: list[int] = []
    real = group_commit.write_many

    async def flaky(
        connection: asyncpg.Connection, writes: Sequence[Write], generation: int
    ) -> list[WriteCounts | None]:
        backends.append(connection.get_server_pid())
        if len(backends) == 1:
            raise ConnectionResetError("connection reset by peer")
        if len(backends) == 2:
            await connection.execute("SELECT 1/0")  # the server answers with an error
        return await real(connection, writes, generation)

    monkeypatch.setattr(group_commit, "write_many", flaky)
    w = world
    for i in range(3):
        with contextlib.suppress(ConnectionResetError, asyncpg.DivisionByZeroError):
            async with asyncio.timeout(WAIT):
                await w.write(group, i, i)
    assert len(backends) == 3

    async def alive(pid: int) -> bool:
        async with session_factory() as session:
            found = await session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        return bool(found)

    async with asyncio.timeout(WAIT):
        while await alive(backends[0]):  # noqa: ASYNC110 (a server process, not ours)
            await asyncio.sleep(0.05)
    assert await alive(backends[1]), "an error the server answered needs no new connection"


async def test_close_answers_every_queued_write_then_closes_the_connections(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world
    first = await recorder.hold(w.write(group, 0, 0))
    queued = [asyncio.create_task(w.write(group, i, i)) for i in range(1, 6)]
    await until_waiting(group, 5)

    closing = asyncio.create_task(group.close())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not closing.done(), "close waits for the writes handed over"
    recorder.release.set()
    async with asyncio.timeout(WAIT):
        await closing
    assert all(t.done() for t in [first, *queued])
    assert [t.result().created for t in [first, *queued]] == [1] * 6
    assert await stored_values(session_factory) == {w.key_of(i): float(i) for i in range(6)}

    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        async with asyncio.timeout(WAIT):
            await w.write(group, 6, 6)


# --- Through the API, PostgreSQL (the app's own GroupCommit) ----------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed mid-operation"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        ConnectionResetError("connection reset by peer"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        # What the first statement on a connection the server ended while idle raises.
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
    ],
    ids=["08003", "interface", "reset", "deadlock", "ended-while-idle"],
)
async def test_a_database_failure_under_group_commit_is_503_not_500(
    pg_url: str,
    client: httpx.AsyncClient,
    seeded: None,
    mint_key: MintKey,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
    failure: Exception,
) -> None:
    clock.now = NOW
    commune = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))
    body = {"observations": [{"indicator": DAILY, "value": 3, "period": DAY}]}

    async def broken(*_: object) -> list[WriteCounts | None]:
        raise failure

    monkeypatch.setattr(group_commit, "write_many", broken)
    answers = await asyncio.gather(
        *(client.post("/api/v1/observations", json=body, headers=commune) for _ in range(3))
    )
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == 503
        assert "retry-after" in answer.headers
    assert await stored_values(session_factory) == {}

    monkeypatch.undo()
    retried = await client.post("/api/v1/observations", json=body, headers=commune)
    assert retried.status_code == 200, retried.text
    assert retried.json()["created"] == 1


async def test_a_revoked_key_does_not_fail_a_live_write_of_the_same_unit(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch)
    w = world
    async with session_factory() as session, session.begin():
        unit = await session.get_one(Unit, w.units[0])
        second_key = (await access.mint_key(session, unit, [Scope.OBSERVATIONS_WRITE], "b")).id
        await session.execute(
            text("UPDATE access_keys SET revoked_at = now() WHERE id = :id"), {"id": w.keys[0]}
        )

    # The same unit, never heard from, pushed by a revoked key and (another period) a live one.
    async with asyncio.timeout(WAIT):
        revoked, live = await asyncio.gather(
            group.write([w.row(0, 1)], key_id=w.keys[0], now=NOW, generation=w.generation),
            group.write([w.row(0, 2, day=26)], key_id=second_key, now=NOW, generation=w.generation),
            return_exceptions=True,
        )
    # pytest.fail, not assert: an AssertionError here would pass for the expected failure.
    if [len(g) for g in recorder.groups] != [2]:
        pytest.fail(f"the two writes did not share a statement: {recorder.groups}")
    if isinstance(live, BaseException):
        raise live  # today: the AssertionError from write_many
    # What the contract says: the revoked one is refused, the live one stored.
    if not isinstance(revoked, KeyNotLive) or live.created != 1:
        pytest.fail(f"revoked write answered {revoked!r}, live write {live!r}")
    stored = await stored_values(session_factory)
    if stored != {(w.units[0], w.indicator, "2026-11-26"): 2.0}:
        pytest.fail(f"stored {stored}")


async def test_the_pushes_of_one_natural_key_are_stored_in_arrival_order(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A(k1), B(k1, k2), C(k2) queue up in that order: B cannot join A's statement, and C must
    not jump ahead of B, or B's older value would replace C's newer one for k2."""
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world
    k1, k2 = (w.units[0], w.indicator, DAY), (w.units[0], w.indicator, "2026-11-26")
    at = {"A": NOW, "B": NOW + timedelta(minutes=1), "C": NOW + timedelta(minutes=2)}
    rows = {
        "A": [w.row(0, 1.0)],
        "B": [w.row(0, 2.0), w.row(0, 2.0, day=26)],
        "C": [w.row(0, 3.0, day=26)],
    }

    holder = await recorder.hold(
        w.write(group, 5, 5, now=LATER)
    )  # the only statement is busy: A, B, C queue behind it
    pushes: dict[str, asyncio.Task[WriteCounts]] = {}
    for n, name in enumerate("ABC", start=1):
        pushes[name] = asyncio.create_task(
            group.write(rows[name], key_id=w.keys[0], now=at[name], generation=w.generation)
        )
        await until_waiting(group, n)
    recorder.release.set()
    async with asyncio.timeout(WAIT):
        await holder
        answers = {name: await task for name, task in pushes.items()}

    statement_of = {
        write.now: index for index, writes in enumerate(recorder.groups) for write in writes
    }
    a, b, c = (statement_of[at[name]] for name in "ABC")
    assert a < b, "A and B share k1"
    assert b < c, f"C (k2) was stored before B (k2): {recorder.groups}"

    assert (answers["A"].created, answers["A"].updated) == (1, 0)
    assert (answers["B"].created, answers["B"].updated) == (1, 1)
    assert (answers["C"].created, answers["C"].updated) == (0, 1)
    stored = await stored_values(session_factory)
    assert stored[k1] == 2.0, "B's value, the later push of k1"
    assert stored[k2] == 3.0, "C's value, the later push of k2"

    async with session_factory() as session:
        revisions = (
            await session.execute(
                select(
                    Observation.period,
                    ObservationRevision.old_value,
                    ObservationRevision.new_value,
                    ObservationRevision.old_received_at,
                    ObservationRevision.changed_at,
                )
                .join(Observation, Observation.id == ObservationRevision.observation_id)
                .order_by(Observation.period, ObservationRevision.revision)
            )
        ).all()
    for revision in revisions:
        assert revision.changed_at >= revision.old_received_at, f"out of order: {revision}"
    assert [tuple(r) for r in revisions] == [
        ("2026-11-26", 2.0, 3.0, at["B"], at["C"]),
        (DAY, 1.0, 2.0, at["A"], at["B"]),
    ]


async def test_a_fresh_push_waits_behind_a_stale_push_of_the_same_natural_key(
    world: World,
    make_group: MakeGroup,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """F (fresh), P(k1, stale generation), Q(k1, fresh) queue up in that order: P cannot join
    F's statement, and Q, though it could, must not be stored before P is answered."""
    group = await make_group(ingest_statements=1)
    recorder = Recorder(group, monkeypatch, hold_first=True)
    w = world
    stale = w.generation - 1

    holder = await recorder.hold(w.write(group, 5, 5))
    plan = {"F": (2, 20.0, w.generation), "P": (0, 1.0, stale), "Q": (0, 2.0, w.generation)}
    pushes: dict[str, asyncio.Task[WriteCounts]] = {}
    for n, (name, (i, value, generation)) in enumerate(plan.items(), start=1):
        pushes[name] = asyncio.create_task(w.write(group, i, value, generation=generation))
        await until_waiting(group, n)
    recorder.release.set()
    async with asyncio.timeout(WAIT):
        await holder
        answers = dict(
            zip(pushes, await asyncio.gather(*pushes.values(), return_exceptions=True), strict=True)
        )

    statement_of = {
        write.rows[0].value: index
        for index, writes in enumerate(recorder.groups)
        for write in writes
    }
    assert statement_of[1.0] < statement_of[2.0], f"Q stored before P: {recorder.groups}"
    assert isinstance(answers["P"], StaleRegistry), answers["P"]
    for name in "FQ":
        answer = answers[name]
        assert isinstance(answer, WriteCounts), f"{name}: {answer!r}"
        assert answer.created == 1
    assert await stored_values(session_factory) == {
        w.key_of(5): 5.0,
        w.key_of(2): 20.0,
        w.key_of(0): 2.0,
    }
