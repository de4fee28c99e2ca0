"""Group commit: pushes that arrive while the database is busy are stored by one statement.

A single-row push costs the database far more in statement and commit overhead than in the row
itself. So each process runs at most ``ingest_statements`` statements at once for small pushes,
and small pushes that arrive meanwhile wait for the next one, which stores all of them together
(up to ``ingest_merge_rows`` rows). Under light load a push is written at once, alone; under
heavy load many pushes share one statement and one commit. A push of ``ingest_merge_rows`` rows
or more gains nothing from company and runs its own statement at once.

Each push stays whole: its rows are all in one statement, so they commit together, and its
answer (created, updated, unchanged) is computed from its own rows only. A push is never merged
with another that stores the same natural key (PostgreSQL refuses an upsert that touches a row
twice); it waits for the next statement instead. If the statement fails, every push in it gets
the error, and none of them has stored anything.

What a merged statement reports is per statement: a series that two of its pushes moved forward
(say to 2026-11-27, then 2026-11-28) advanced once, to the later period, and that one advance is
reported with the push that carried it.
"""

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from ioc_hub.config import Settings
from ioc_hub.db import create_driver_pool
from ioc_hub.errors import Unavailable
from ioc_hub.ingest.repository import KeyNotLive, StaleRegistry, Write, WriteCounts, write_many
from ioc_hub.ingest.validation import ValidRow


@dataclass(slots=True)
class _Waiting:
    write: Write
    generation: int
    answer: "asyncio.Future[WriteCounts]"
    keys: set[tuple[int, int, str]] = field(default_factory=set)


class GroupCommit:
    """Stores pushes in autocommit statements (PostgreSQL), merging concurrent small ones."""

    def __init__(self, settings: Settings) -> None:
        self._pool = create_driver_pool(settings, settings.db_pool_size)
        self._timeout = settings.db_timeout_seconds
        self._statements = settings.ingest_statements
        self._merge_rows = settings.ingest_merge_rows
        self._waiting: deque[_Waiting] = deque()
        self._active = 0
        """Statements running or about to; at most ``statements``."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(
        self,
        rows: Sequence[ValidRow],
        *,
        key_id: int,
        now: datetime,
        generation: int,
        imported: bool = False,
    ) -> WriteCounts:
        """What :func:`repository.write_batch` does, with the same errors, possibly in company."""
        write = Write(rows, key_id, now, imported)
        if len(rows) >= self._merge_rows:
            # A large push gains nothing from company: it runs its own statement at once.
            [counts] = await self._execute([write], generation)
            if counts is None:
                raise KeyNotLive
            return counts
        answer: asyncio.Future[WriteCounts] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(write, generation, answer))
        if self._active < self._statements:
            self._active += 1
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A cancelled request (client gone) cancels only its wait: if its rows were already
        # taken into a statement they are stored, as if the client had left after the answer.
        return await answer

    async def start(self) -> None:
        await self._pool  # connects nothing yet (no minimum size)

    async def close(self) -> None:
        """Answer every push handed over so far, then close the connections."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.close()

    async def _run(self) -> None:
        try:
            while self._waiting:
                group = self._take()
                if group:
                    await self._store(group)
        finally:
            # No await between the queue found empty and this: a push arriving now starts a
            # statement of its own.
            self._active -= 1

    async def _execute(self, writes: Sequence[Write], generation: int) -> list[WriteCounts | None]:
        async with self._pool.acquire(timeout=self._timeout) as connection:
            try:
                return await write_many(connection, writes, generation)
            except (asyncpg.PostgresError, StaleRegistry):
                raise  # the server answered: the connection is ready for the next statement
            except BaseException:
                # Lost, timed out or cancelled mid-statement, the connection may be stuck inside
                # the protocol; the pool does not reset connections (a round trip per release),
                # so it must never get this one back.
                connection.terminate()
                raise

    async def _store(self, group: list[_Waiting]) -> None:
        try:
            answers = await self._execute([w.write for w in group], group[0].generation)
        except StaleRegistry:
            for waiting in group:
                _fail(waiting, StaleRegistry())
            return
        except Exception as exc:  # the database failed: every push in the group learns it
            for waiting in group:
                _fail(waiting, exc)
            return
        except BaseException:  # cancelled as the process stops: a retried push is harmless
            for waiting in group:
                _fail(waiting, Unavailable("the hub is stopping; push again"))
            raise
        for waiting, counts in zip(group, answers, strict=True):
            if counts is None:
                _fail(waiting, KeyNotLive())
            elif not waiting.answer.done():
                waiting.answer.set_result(counts)

    def _take(self) -> list[_Waiting]:
        """The oldest waiting push and, in order, those that can share its statement.

        A push that cannot join (it stores a natural key already taken, or was validated against
        another registry generation) waits for the next statement, and so does every later push
        that stores one of its keys: the pushes of one natural key are stored in arrival order.
        """
        group: list[_Waiting] = []
        taken: set[tuple[int, int, str]] = set()
        rows = 0
        passed: list[_Waiting] = []
        while self._waiting:
            waiting = self._waiting.popleft()
            if waiting.answer.done():  # its request was cancelled before it was stored
                continue
            if not group:
                group.append(waiting)
                rows = len(waiting.write.rows)
                if len(self._waiting) and rows < self._merge_rows:
                    taken = set(_natural_keys(waiting))
                    continue
                break
            size = len(waiting.write.rows)
            if rows + size > self._merge_rows:
                passed.append(waiting)
                break
            keys = _natural_keys(waiting)
            joins = waiting.generation == group[0].generation and taken.isdisjoint(keys)
            taken |= keys
            if joins:
                group.append(waiting)
                rows += size
            else:
                passed.append(waiting)
        self._waiting.extendleft(reversed(passed))
        return group


def _natural_keys(waiting: _Waiting) -> set[tuple[int, int, str]]:
    if not waiting.keys:
        waiting.keys = {(r.unit_id, r.indicator_id, r.period) for r in waiting.write.rows}
    return waiting.keys


def _fail(waiting: _Waiting, exception: BaseException) -> None:
    if not waiting.answer.done():
        waiting.answer.set_exception(exception)
