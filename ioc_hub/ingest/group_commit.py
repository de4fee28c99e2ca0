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
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from ioc_hub.config import Settings
from ioc_hub.db import connect_driver
from ioc_hub.errors import Unavailable
from ioc_hub.ingest.repository import KeyNotLive, StaleRegistry, Write, WriteCounts, write_many
from ioc_hub.ingest.validation import ValidRow

IDLE_LIFETIME_SECONDS = 300.0
"""A connection idle this long is closed rather than reused (as asyncpg's pool does): a server
or proxy may have dropped it meanwhile."""


@dataclass(slots=True)
class _Waiting:
    write: Write
    generation: int
    answer: "asyncio.Future[WriteCounts]"
    keys: set[tuple[int, int, str]] = field(default_factory=set)


class GroupCommit:
    """Stores pushes in autocommit statements (PostgreSQL), merging concurrent small ones."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = settings.db_timeout_seconds
        # Connections of its own rather than asyncpg's pool, whose checkout and return cost a
        # single-row statement a third of the process's work for it (a task per return, timers,
        # a proxy). At most ``db_pool_size`` are out at once; idle ones wait in ``_idle``.
        self._slots = asyncio.Semaphore(settings.db_pool_size)
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()
        self._closed = False
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

    async def close(self) -> None:
        """Answer every push handed over so far, then close the connections."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        while self._idle:
            connection, _ = self._idle.popleft()
            try:
                await connection.close(timeout=self._timeout)
            except Exception:  # already gone, or not answering: drop it
                connection.terminate()

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
        connection = await self._checkout()
        try:
            answers = await write_many(connection, writes, generation)
        except (asyncpg.PostgresError, StaleRegistry):
            self._checkin(connection)  # the server answered: ready for the next statement
            raise
        except BaseException:
            # Lost, timed out or cancelled mid-statement, the connection may be stuck inside the
            # protocol: it must never run another statement.
            connection.terminate()
            self._slots.release()
            raise
        self._checkin(connection)
        return answers

    async def _checkout(self) -> asyncpg.Connection:
        if self._closed:
            raise asyncpg.InterfaceError("group commit is closed")
        if self._slots.locked():  # every connection is out (large pushes): wait, not forever
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        else:
            await self._slots.acquire()  # returns at once
        try:
            while self._idle:
                connection, since = self._idle.pop()  # the most recently used
                if not connection.is_closed() and time.monotonic() - since < IDLE_LIFETIME_SECONDS:
                    return connection
                connection.terminate()
            return await connect_driver(self._settings)
        except BaseException:
            self._slots.release()
            raise

    def _checkin(self, connection: asyncpg.Connection) -> None:
        if self._closed:
            connection.terminate()
        else:
            self._idle.append((connection, time.monotonic()))
        self._slots.release()

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
