"""What every benchmark needs: a throwaway PostgreSQL database, a hub process, a fast client."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub.config import Settings
from ioc_hub.migrate import upgrade

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def base_url() -> str:
    return os.environ.get("IOC_HUB_BENCH_DATABASE_URL", DEFAULT_URL)


async def _admin(statement: str) -> None:
    engine = create_async_engine(base_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[str]:
    """A new migrated PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(base_url()).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, Settings(database_url=url))
        yield url
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def kept_database(name: str) -> tuple[str, bool]:
    """The migrated PostgreSQL database ``name``, created if missing and never dropped, so that a
    slow load can be timed once and read many times; whether it was created."""
    engine = create_async_engine(base_url())
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
    finally:
        await engine.dispose()
    if not exists:
        await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(base_url()).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, Settings(database_url=url))
    return url, not exists


@contextlib.asynccontextmanager
async def fresh_database(engine: str, prefix: str) -> AsyncIterator[str]:
    """A fresh migrated database: a throwaway PostgreSQL one (``engine`` "postgresql"), or a
    temporary SQLite file."""
    if engine == "postgresql":
        async with throwaway_database(prefix) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp, 'hub.db')}"
        await asyncio.to_thread(upgrade, Settings(database_url=url))
        yield url


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    argv: Sequence[str], port: int, env: dict[str, str], cwd: Path | None = None
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run an HTTP server process (in ``cwd``) until the block ends; waits until it answers,
    then gives the process."""
    process = subprocess.Popen(
        [sys.executable, *argv],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("IOC_HUB_BENCH_SERVER_LOG", os.devnull), "a"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("server exited; set IOC_HUB_BENCH_SERVER_LOG=file to see why")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


class HttpConnection:
    """A keep-alive HTTP/1.1 client over asyncio streams: far lighter than a general client, so
    the load generator does not become what is measured."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._head = f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self._reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far, from ``/proc`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
