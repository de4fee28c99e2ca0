"""The hub killed with SIGKILL mid-run (issue 7, faults 1): pushes with an ``Idempotency-Key``
are all or nothing, and retried until acknowledged, each is stored exactly once."""

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.process import Hub, cli, mint
from tests.reliability.helpers import DAILY, Batches, Stored, read_stored

PUSHERS = 8
BATCHES_PER_PUSHER = 30
KILLS = 2
REQUEST_TIMEOUT = 20.0
RUN_TIMEOUT = 180.0
MAX_ATTEMPTS = 400


@dataclass
class Traffic:
    """What the clients saw, shared by the pushers and the chaos task."""

    acked: dict[int, httpx.Response] = field(default_factory=dict)
    """The first 2xx of each batch."""
    acked_as_replay: int = 0
    """Batches whose first 2xx was a replay: an earlier attempt was stored, its answer lost."""
    in_flight: int = 0
    in_flight_at_kills: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)


async def pusher(url: str, token: str, batches: list[int], plan: Batches, traffic: Traffic) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        for batch in batches:
            body = plan.body(batch)
            headers = {
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": f"crash-batch-{batch}",
                "Content-Type": "application/json",
            }
            for attempt in itertools.count():
                assert attempt < MAX_ATTEMPTS, f"batch {batch} was never acknowledged"
                traffic.in_flight += 1
                try:
                    response = await http.post(
                        "/api/v1/observations", content=body, headers=headers
                    )
                except httpx.TransportError as exc:
                    traffic.transport_errors[type(exc).__name__] += 1
                else:
                    traffic.statuses[response.status_code] += 1
                    if response.is_success:
                        traffic.acked[batch] = response
                        traffic.acked_as_replay += "Idempotent-Replayed" in response.headers
                        break
                    # A retry while the first attempt's transaction still holds the key may wait
                    # or see 503; anything else is a bug.
                    assert response.status_code == 503, f"batch {batch}: {response.text}"
                finally:
                    traffic.in_flight -= 1
                await asyncio.sleep(min(0.02 * 2**attempt, 0.5))


def check_whole_batches(stored: Stored, plan: Batches, acked: set[int]) -> None:
    """Every batch is stored whole or not at all — its values, its rejected row and its
    idempotency record together — and every acknowledged batch is stored."""
    rows_per_batch = Counter(plan.batch_of(unit, period) for unit, period in stored.observations)
    rejected_per_batch = Counter(int(code.removeprefix("NOPE-")) for code in stored.rejections)
    records = dict(stored.idempotency)
    remembered = {int(key.removeprefix("crash-batch-")) for key in records}
    for batch in set(rows_per_batch) | set(rejected_per_batch) | remembered | acked:
        rows = rows_per_batch[batch]
        assert rows in (0, plan.rows), f"batch {batch} is half stored: {rows} of {plan.rows} rows"
        whole = rows == plan.rows
        assert rejected_per_batch[batch] == whole, f"batch {batch}: rejected row kept {whole=}"
        assert records.get(f"crash-batch-{batch}") == (200 if whole else None), batch
        if batch in acked:
            assert whole, f"batch {batch} was acknowledged but is not stored"
    assert all(status != 0 for status in records.values()), "a claim without its response"


@pytest.mark.slow
async def test_acknowledged_pushes_survive_sigkill_exactly_once(
    scratch_url: str, tmp_path: Path
) -> None:
    await cli(scratch_url, "seed")
    token = await mint(scratch_url, "74", "observations:write")
    plan = Batches()
    total = PUSHERS * BATCHES_PER_PUSHER
    traffic = Traffic()
    snapshots: list[tuple[set[int], Stored]] = []
    # The rows' values are labels that say which batch wrote them, not a series: outlier
    # flagging would judge them, and the summaries this test predicts count no flags.
    hub = Hub(scratch_url, tmp_path / "hub.log", IOC_HUB_OUTLIER_FLAGGING="false")
    await hub.start()

    async def chaos() -> None:
        for kill in range(1, KILLS + 1):
            while len(traffic.acked) < total * kill // (KILLS + 1):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            acked_before = set(traffic.acked)
            traffic.in_flight_at_kills.append(traffic.in_flight)
            await hub.kill()
            # While the hub is down: what it left behind must already be whole batches.
            snapshots.append((acked_before, await read_stored(scratch_url)))
            await hub.start()

    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await asyncio.gather(
                chaos(),
                *(
                    pusher(
                        hub.url,
                        token,
                        list(range(p * BATCHES_PER_PUSHER, (p + 1) * BATCHES_PER_PUSHER)),
                        plan,
                        traffic,
                    )
                    for p in range(PUSHERS)
                ),
            )

        assert len(snapshots) == KILLS
        for acked_before, snapshot in snapshots:
            assert len(acked_before) < total, "the kill came after the run"
            check_whole_batches(snapshot, plan, acked_before)
        assert sum(traffic.in_flight_at_kills) > 0, "no request was cut by a kill"
        assert set(traffic.acked) == set(range(total))

        # Every 2xx told the truth, original or replayed.
        for batch, response in traffic.acked.items():
            assert response.json() == plan.expected_summary(batch), batch

        stored = await read_stored(scratch_url)
        check_whole_batches(stored, plan, set(range(total)))
        assert len(stored.observations) == total * plan.rows
        for g in range(total * plan.rows):
            assert stored.observations[plan.natural_key(g)] == (plan.value(g), 1), g

        # A retry now, after two crashes, replays the first answer byte for byte.
        async with httpx.AsyncClient(base_url=hub.url, timeout=REQUEST_TIMEOUT) as http:
            limit = asyncio.Semaphore(PUSHERS)

            async def replay(batch: int) -> None:
                async with limit:
                    again = await http.post(
                        "/api/v1/observations",
                        content=plan.body(batch),
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Idempotency-Key": f"crash-batch-{batch}",
                            "Content-Type": "application/json",
                        },
                    )
                assert again.status_code == traffic.acked[batch].status_code
                assert again.headers.get("Idempotent-Replayed") == "true"
                assert again.content == traffic.acked[batch].content

            await asyncio.gather(*(replay(batch) for batch in range(total)))
        after = await read_stored(scratch_url)
        assert after.observations == stored.observations, "a replay changed nothing"
        assert sorted(after.rejections) == sorted(stored.rejections)
    finally:
        await hub.stop()
    print(
        f"\ncrash: {total} batches, {total * plan.rows} rows of {DAILY} stored exactly once; "
        f"{KILLS} SIGKILLs with {traffic.in_flight_at_kills} requests in flight; "
        f"{traffic.acked_as_replay} batches first acknowledged by a replay; "
        f"statuses {dict(traffic.statuses)}, transport errors {dict(traffic.transport_errors)}"
    )
