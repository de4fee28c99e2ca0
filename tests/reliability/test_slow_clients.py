"""Big bodies and slow senders against a hub process (issue 7, faults 3): a body over the limit
is answered 413 without being read whole, and clients that trickle their bytes hold nothing
that others need (not the event loop, not a database connection)."""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import Hub, cli, mint, rss_bytes, running_hub
from tests.reliability.helpers import DAILY, last_complete_day

LIMIT = 1_000_000
HUGE = 200 * 1024 * 1024
CHUNK = 256 * 1024
IO_TIMEOUT = 10.0


@dataclass
class Served:
    hub: Hub
    token: str


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """A hub with a 1 MB body limit and two database connections at most."""
    tmp = tmp_path_factory.mktemp("slow")
    url = await create_database("postgresql", tmp)
    try:
        await cli(url, "seed")
        token = await mint(url, "74", "observations:write", "aggregates:read")
        async with running_hub(
            url,
            tmp / "hub.log",
            IOC_HUB_MAX_BODY_BYTES=str(LIMIT),
            IOC_HUB_DB_POOL_SIZE="1",
            IOC_HUB_DB_TIMEOUT_SECONDS="5",
        ) as hub:
            yield Served(hub, token)
    finally:
        await drop_database(url)


def request_head(served: Served, path: str, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{served.hub.port}",
        f"Authorization: Bearer {served.token}",
        "Content-Type: application/json",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextlib.asynccontextmanager
async def connection(
    served: Served,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async with asyncio.timeout(IO_TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", served.hub.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


@pytest.mark.parametrize("path", ["/api/v1/observations", "/api/v1/units"])
async def test_declared_oversized_body_is_refused_before_it_is_sent(
    served: Served, path: str
) -> None:
    async with connection(served) as (reader, writer):
        writer.write(request_head(served, path, f"Content-Length: {HUGE}"))
        await writer.drain()
        # Not one byte of the body was sent: the answer cannot wait for it.
        async with asyncio.timeout(IO_TIMEOUT):
            response = await reader.read()
    assert status_of(response) == 413
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head
    assert json.loads(body)["detail"] == f"request body is larger than {LIMIT} bytes"


@contextlib.contextmanager
def raw_socket(served: Served) -> Iterator[socket.socket]:
    """A bare non-blocking socket. Unlike an asyncio transport, which drops what it has not read
    once a write fails, it still returns the answer that arrived before the hub's reset: Linux
    keeps received bytes readable after a RST."""
    sock = socket.create_connection(("127.0.0.1", served.hub.port), timeout=IO_TIMEOUT)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


async def read_head(sock: socket.socket) -> bytes:
    """Bytes until the end of the response head, or until the hub hangs up."""
    loop = asyncio.get_running_loop()
    received = b""
    while b"\r\n\r\n" not in received:
        try:
            piece = await loop.sock_recv(sock, 65536)
        except ConnectionError:
            break
        if not piece:
            break
        received += piece
    return received


@pytest.mark.slow
async def test_streamed_oversized_body_is_cut_off_without_being_read(served: Served) -> None:
    """200 MB chunked, no Content-Length: the hub answers 413 and hangs up once it has read
    its limit; the client cannot push the rest, and the hub's memory barely moves."""
    loop = asyncio.get_running_loop()
    baseline = rss_bytes(served.hub.pid)
    peak = baseline
    sampling = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, rss_bytes(served.hub.pid))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    sent = sent_when_answered = 0
    chunk = b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n"
    started = time.monotonic()
    try:
        with raw_socket(served) as sock:
            await loop.sock_sendall(
                sock, request_head(served, "/api/v1/observations", "Transfer-Encoding: chunked")
            )
            answer = asyncio.create_task(read_head(sock))
            # Send until the hub stops taking bytes (the send no longer completes) or hangs up.
            with contextlib.suppress(ConnectionError):
                while sent < HUGE:
                    sending = asyncio.ensure_future(loop.sock_sendall(sock, chunk))
                    done, _ = await asyncio.wait(
                        {sending, answer}, timeout=IO_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
                    )
                    assert done, "the hub neither read on nor answered"
                    if answer.done() and not sent_when_answered:
                        sent_when_answered = sent + CHUNK
                    if sending not in done:
                        sending.cancel()
                        break
                    sending.result()
                    sent += CHUNK
            async with asyncio.timeout(IO_TIMEOUT):
                response = await answer
    finally:
        sampling.set()
        await sampler

    assert status_of(response) == 413, response[:300]
    assert b"connection: close" in response.lower()
    assert sent < HUGE // 8, f"the client pushed {sent} bytes: the hub kept reading"
    assert sent_when_answered <= 16 * LIMIT, sent_when_answered
    assert peak - baseline < 32 * 1024 * 1024, f"RSS grew {peak - baseline} bytes"
    print(
        f"\nbig body: 200 MB chunked answered 413 after {time.monotonic() - started:.2f} s; "
        f"client got {sent / 1e6:.1f} MB out before the hub hung up; "
        f"hub RSS grew {(peak - baseline) / 1e6:.1f} MB"
    )


@pytest.mark.slow
async def test_slow_senders_do_not_block_other_clients(served: Served) -> None:
    """Six clients trickle a push a byte at a time and two trickle their headers, with only
    two database connections in the pool; meanwhile others push and read at full speed."""
    day = last_complete_day().isoformat()
    slow_body = json.dumps(
        {"observations": [{"unit": "25741", "indicator": DAILY, "value": 7, "period": day}]}
    ).encode()
    trickle_seconds = 6.0
    pause = trickle_seconds / len(slow_body)
    fast_done = asyncio.Event()

    async def slow_push() -> tuple[int, bool]:
        async with connection(served) as (reader, writer):
            writer.write(
                request_head(served, "/api/v1/observations", f"Content-Length: {len(slow_body)}")
            )
            for byte in slow_body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(pause)
            overtaken = fast_done.is_set()
            async with asyncio.timeout(IO_TIMEOUT):
                response = await reader.readuntil(b"\r\n\r\n")
        return status_of(response), overtaken

    async def slow_headers() -> None:
        async with connection(served) as (_, writer):
            for byte in b"GET /api/v1/units HTTP/1.1\r\nHost: x\r\nX-Slow: ":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(trickle_seconds / 60)

    slow = [asyncio.create_task(slow_push()) for _ in range(6)]
    headers = [asyncio.create_task(slow_headers()) for _ in range(2)]
    await asyncio.sleep(0.5)  # every slow client is mid-request

    auth = {"Authorization": f"Bearer {served.token}"}
    timings = []
    async with httpx.AsyncClient(base_url=served.hub.url, timeout=IO_TIMEOUT) as http:
        for n in range(20):
            started = time.monotonic()
            pushed = await http.post(
                "/api/v1/observations",
                json={
                    "observations": [{"unit": "718", "indicator": DAILY, "value": n, "period": day}]
                },
                headers=auth,
            )
            read = await http.get("/api/v1/units?limit=5", headers=auth)
            timings.append(time.monotonic() - started)
            assert pushed.status_code == 200, pushed.text
            assert read.status_code == 200, read.text
    fast_done.set()

    async with asyncio.timeout(trickle_seconds + IO_TIMEOUT):
        results = await asyncio.gather(*slow)
        await asyncio.gather(*headers)
    assert all(status == 200 for status, _ in results), results
    assert all(overtaken for _, overtaken in results), "the fast clients finished last"
    assert max(timings) < 2.0, timings
    print(
        f"\nslow senders: 40 fast requests done in {sum(timings):.2f} s (slowest pair "
        f"{max(timings) * 1000:.0f} ms) while 6 pushes trickled over {trickle_seconds:.0f} s "
        "and 2 clients trickled headers, with a pool of 2 connections"
    )
