"""Leadership: at most one process at a time does a job, and another takes over when it dies.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own, kept
open while it leads. A process that dies loses the connection, and PostgreSQL releases the lock
with it; the next process to try takes it. On SQLite the hub runs as one process, which always
leads.
"""

import abc
import contextlib
import logging
import os
import zlib
from typing import Any

import asyncpg

from ioc_hub.kit.notify import asyncpg_dsn

log = logging.getLogger(__name__)


class Leadership(abc.ABC):
    @abc.abstractmethod
    async def lead(self) -> bool:
        """Whether this process leads now: still holds, or has just taken, the leadership."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Give the leadership up (at shutdown); another process may take it at once."""


class SingleProcess(Leadership):
    async def lead(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock(Leadership):
    """``pg_try_advisory_lock`` on a dedicated connection, named after ``job``."""

    def __init__(self, url: str, job: str, *, timeout: float = 10.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._job = job
        self._key = zlib.crc32(f"leader {job}".encode())
        self._timeout = timeout
        self._connection: Any = None
        self._held = False

    async def lead(self) -> bool:
        try:
            if self._held:
                # A broken connection means the lock is gone, maybe taken by another process.
                await self._connection.fetchval("SELECT 1", timeout=self._timeout)
                return True
            if self._connection is None:
                self._connection = await asyncpg.connect(
                    self._dsn,
                    timeout=self._timeout,
                    # The process id tells operators (pg_stat_activity) which process leads.
                    server_settings={"application_name": f"ioc-hub {self._job} {os.getpid()}"},
                )
            self._held = bool(
                await self._connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._timeout
                )
            )
            if self._held:
                log.info("%s: this process leads now", self._job)
            return self._held
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self._held:
                log.warning("%s: lost the leadership with its connection: %s", self._job, exc)
            await self.release()
            return False

    async def release(self) -> None:
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=self._timeout)
            if not connection.is_closed():
                connection.terminate()
