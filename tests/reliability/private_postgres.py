"""A PostgreSQL cluster of the test's own, on a free port, which the test may stop and start
(the shared server on 5432 serves other test runs and is never touched)."""

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.process import free_port

COMMAND_TIMEOUT = 60.0


def _stop(pid: int) -> None:
    """SIGSTOP, then wait until the process is stopped: the signal takes effect only when the
    process next returns to user mode, which may be after a fork or a commit."""
    os.kill(pid, signal.SIGSTOP)
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 5
    while stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"process {pid} did not stop")
        time.sleep(0.001)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name (2nd field) is in parentheses and may hold spaces.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class Cluster:
    def __init__(self, binaries: Path, data_dir: Path, port: int) -> None:
        self.binaries = binaries
        self.data_dir = data_dir
        self.port = port
        self.admin_url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        # initdb and the server refuse to run as root.
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    async def _run(self, tool: str, *args: str, check: bool = True) -> None:
        done = await asyncio.to_thread(
            subprocess.run,
            [*self._as_owner, str(self.binaries / tool), *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}"

    async def init(self) -> None:
        await self._run(
            "initdb",
            *("-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            "--no-sync",
        )

    async def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.data_dir}"
        )
        log = str(self.data_dir / "server.log")
        await self._run("pg_ctl", "-D", str(self.data_dir), "-l", log, "-o", options, "-w", "start")

    async def stop(self) -> None:
        """What an operator's restart does: disconnect every client, shut down cleanly."""
        await self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every server process stopped (SIGSTOP) for the block: connections are accepted by
        the kernel and never answered, as with a hung host. Thawed whatever happens."""
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        stopped: list[int] = []
        try:
            # The postmaster first, and only then its children: once it is stopped it forks no
            # more, so a backend it forked a moment ago (a client connecting just now) is listed.
            _stop(postmaster)
            stopped.append(postmaster)
            for pid in _children(postmaster):
                with contextlib.suppress(ProcessLookupError, FileNotFoundError):  # just exited
                    _stop(pid)
                    stopped.append(pid)
            yield
        finally:
            for pid in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    async def halt(self) -> None:
        """Stop if running, whatever state the test left it in."""
        await self._run(
            "pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False
        )

    async def create_database(self, name: str) -> str:
        engine = create_async_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.asynccontextmanager
async def private_cluster() -> AsyncIterator[Cluster]:
    """initdb, start; always stopped and deleted afterwards. Skips where PostgreSQL's server
    binaries (or, as root, the ``postgres`` user to run them) are missing."""
    binaries = _binaries()
    if binaries is None:
        pytest.skip("initdb not found (/usr/lib/postgresql/*/bin): no private PostgreSQL")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    # Not under pytest's tmp_path: its parents are private to root, the server runs as postgres.
    data_dir = Path(tempfile.mkdtemp(prefix="ioc-hub-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    cluster = Cluster(binaries, data_dir, free_port())
    try:
        await cluster.init()
        await cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await cluster.halt()
        shutil.rmtree(data_dir, ignore_errors=True)
