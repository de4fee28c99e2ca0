"""PostgreSQL gone under load (issue 7, faults 2): the hub answers 503 with ``Retry-After``
within its timeouts, ``/ready`` turns false, and once the database is back the same process
serves again by itself without losing anything it acknowledged.

Two ways to be gone: stopped (``pg_ctl stop -m fast``: connections cut, new ones refused) and
frozen (every server process SIGSTOPped: connections accepted by the kernel, never answered,
the case only timeouts can end)."""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.private_postgres import Cluster, private_cluster
from tests.fixtures.process import cli, mint, running_hub
from tests.reliability.helpers import Batches, read_stored

DB_TIMEOUT = 2.0
# The longest a request may take: a pool checkout, a connect and a statement (3 × the
# timeout, asyncpg's command_timeout), each bounded.
ANSWER_BOUND = DB_TIMEOUT * 5 + 1
CLIENT_TIMEOUT = ANSWER_BOUND * 3
RECOVERY_BOUND = 15.0
PUSHERS = 4
ROWS = 20


@dataclass(frozen=True)
class Answer:
    what: str
    sent: float
    done: float
    status: int | None
    """None: no HTTP answer at all."""
    retry_after: str | None = None
    body: str = ""


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)
    batches: Iterator[int] = field(default_factory=itertools.count)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, http: httpx.AsyncClient, what: str, request: httpx.Request) -> Answer:
        sent = time.monotonic()
        try:
            response = await http.send(request)
        except httpx.TransportError as exc:
            answer = Answer(what, sent, time.monotonic(), None, body=repr(exc))
        else:
            answer = Answer(
                what,
                sent,
                time.monotonic(),
                response.status_code,
                response.headers.get("Retry-After"),
                response.text[:300],
            )
        self.answers.append(answer)
        return answer

    def between(self, start: float, end: float, what: str) -> list[Answer]:
        """Answers to requests sent and answered within [start, end]."""
        return [a for a in self.answers if a.what == what and start <= a.sent and a.done <= end]


async def pusher(url: str, token: str, plan: Batches, load: Load) -> None:
    """New batches one after another, each retried until stored; every other one with an
    ``Idempotency-Key`` (a retry then replays the first answer), the others without."""
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT) as http:
        while not load.stop.is_set():
            batch = next(load.batches)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if batch % 2 == 0:
                headers["Idempotency-Key"] = f"outage-{batch}"
            body = plan.body(batch, rejected_row=False)
            for _ in range(1000):
                request = http.build_request(
                    "POST", "/api/v1/observations", content=body, headers=headers
                )
                if (await load.call(http, "push", request)).status == 200:
                    load.acked.add(batch)
                    break
                await asyncio.sleep(0.1)


async def watcher(url: str, token: str, load: Load) -> None:
    """Readiness, liveness and a read that needs the database, over and over."""
    auth = {"Authorization": f"Bearer {token}"}
    requests = {
        "ready": ("/ready", {}),
        "health": ("/health", {}),
        "read": ("/api/v1/units?limit=5", auth),
    }

    # One loop each: a read held up by a frozen database must not keep /ready from being asked.
    async def poll(what: str) -> None:
        path, headers = requests[what]
        async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT) as http:
            while not load.stop.is_set():
                await load.call(http, what, http.build_request("GET", path, headers=headers))
                await asyncio.sleep(0.1)

    await asyncio.gather(*(poll(what) for what in requests))


@dataclass
class Run:
    load: Load
    gone: float
    """When the database had gone."""
    back: float
    """When it was back."""
    recovered: float
    """When the first push sent after it was back got stored."""
    steady: float
    """From here to the end, the load ran on a recovered hub."""
    ready_at_end: httpx.Response
    log: str


async def under_load(
    cluster: Cluster, tmp_path: Path, fault: Callable[[], Awaitable[tuple[float, float]]]
) -> tuple[Run, Batches, str]:
    """A migrated, seeded database on ``cluster``, a hub process with short database timeouts,
    pushers and a watcher; ``fault()`` runs once pushes flow and returns when the database is
    back, with (gone, back) times."""
    url = await cluster.create_database("hub")
    await cli(url, "migrate")
    await cli(url, "seed")
    token = await mint(url, "74", "observations:write", "aggregates:read")
    plan = Batches(rows_per_batch=ROWS)
    load = Load()
    async with running_hub(
        url, tmp_path / "hub.log", IOC_HUB_DB_TIMEOUT_SECONDS=str(DB_TIMEOUT)
    ) as hub:
        pid = hub.pid
        tasks = [asyncio.create_task(pusher(hub.url, token, plan, load)) for _ in range(PUSHERS)]
        tasks.append(asyncio.create_task(watcher(hub.url, token, load)))
        try:
            async with asyncio.timeout(30):
                while len(load.acked) < 20:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            gone, back = await fault()
            acked_when_back = len(load.acked)
            async with asyncio.timeout(RECOVERY_BOUND):
                while len(load.acked) <= acked_when_back:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            recovered = time.monotonic()
            await asyncio.sleep(3)
            steady = time.monotonic()
            await asyncio.sleep(1.5)
        finally:
            load.stop.set()
            async with asyncio.timeout(CLIENT_TIMEOUT + 5):
                await asyncio.gather(*tasks)
        async with httpx.AsyncClient(base_url=hub.url, timeout=CLIENT_TIMEOUT) as http:
            ready_at_end = await http.get("/ready")
        assert hub.process is not None
        assert hub.process.returncode is None, "the hub is still running"
        assert hub.pid == pid, "the same process served throughout"
        run = Run(load, gone, back, recovered, steady, ready_at_end, hub.output())
    await check(run, plan, url)
    return run, plan, url


async def check(run: Run, plan: Batches, url: str) -> None:
    answers = run.load.answers
    unanswered = [a for a in answers if a.status is None]
    assert not unanswered, f"the hub left requests unanswered: {unanswered[:3]}"
    slow = [a for a in answers if a.done - a.sent > ANSWER_BOUND]
    assert not slow, f"answers slower than {ANSWER_BOUND} s: {slow[:3]}"
    wrong = [
        a
        for a in answers
        if a.status is not None
        and a.status >= 500
        and (a.status != 503 or (a.what != "ready" and not (a.retry_after or "").isdigit()))
    ]
    assert not wrong, f"server errors other than 503 + Retry-After: {wrong[:3]}\n{run.log[-3000:]}"

    # While it was gone: pushes and reads 503, /ready false, /health still fine. (A frozen
    # database holds a request up to the statement timeout, so few fit in the window whole.)
    refused = [a for a in answers if a.status == 503 and run.gone <= a.done <= run.back]
    assert len(refused) >= PUSHERS, f"too little load while the database was gone: {refused}"
    assert {a.status for a in run.load.between(run.gone, run.back, "push")} == {503}
    assert {a.status for a in run.load.between(run.gone, run.back, "read")} <= {503}
    assert any(a.what == "read" and a.status == 503 for a in answers)
    ready = run.load.between(run.gone, run.back, "ready")
    assert ready
    assert all(a.status == 503 and '"ready":false' in a.body for a in ready)
    assert {a.status for a in run.load.between(run.gone, run.back, "health")} == {200}

    # Back by itself: every push of the last stretch stored, and /ready true.
    assert {a.status for a in run.load.between(run.steady, time.monotonic(), "push")} == {200}
    assert run.ready_at_end.status_code == 200, run.ready_at_end.text

    # Nothing acknowledged is lost; nothing is half stored.
    stored = await read_stored(url)
    per_batch = Counter(plan.batch_of(unit, period) for unit, period in stored.observations)
    assert set(per_batch.values()) == {plan.rows}, "a batch is half stored"
    for batch in run.load.acked:
        for g in plan.rows_of(batch):
            assert stored.observations[plan.natural_key(g)][0] == plan.value(g)


def report(name: str, run: Run, plan: Batches) -> None:
    refused = [a for a in run.load.answers if a.status == 503 and a.what == "push"]
    print(
        f"\n{name}: database gone {run.back - run.gone:.1f} s under {PUSHERS} pushers; "
        f"{len(refused)} pushes answered 503 (slowest "
        f"{max(a.done - a.sent for a in refused):.2f} s); stored again "
        f"{run.recovered - run.back:.2f} s after it was back; {len(run.load.acked)} batches "
        f"({len(run.load.acked) * plan.rows} rows) acknowledged, all kept; answers "
        f"{dict(Counter(a.status for a in run.load.answers))}"
    )


@pytest.mark.slow
async def test_database_stopped_is_503_then_recovers_without_restart(tmp_path: Path) -> None:
    async with private_cluster() as cluster:

        async def stop_for_ten_seconds() -> tuple[float, float]:
            await cluster.stop()
            gone = time.monotonic()
            await asyncio.sleep(10)
            back = time.monotonic()
            await cluster.start()
            return gone, back

        run, plan, _ = await under_load(cluster, tmp_path, stop_for_ten_seconds)
    report("stopped", run, plan)


@pytest.mark.slow
async def test_database_frozen_is_503_within_the_timeout_then_recovers(tmp_path: Path) -> None:
    async with private_cluster() as cluster:

        async def freeze_for_twelve_seconds() -> tuple[float, float]:
            with cluster.frozen():
                gone = time.monotonic()
                await asyncio.sleep(12)
                back = time.monotonic()
            return gone, back

        run, plan, _ = await under_load(cluster, tmp_path, freeze_for_twelve_seconds)
    report("frozen", run, plan)
