"""GET /metrics (issue 6): Prometheus text, parsed with prometheus-client's own parser."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.stream.sse import open_stream

DAILY = "DVC-HS-TIEP-NHAN"
RATE = "DVC-TY-LE-TRUC-TUYEN"  # monthly, 0..100


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_with_pushes_and_rejected_rows_by_reason(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    commune = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))
    before = await scrape(client)
    rows = [
        {"indicator": DAILY, "value": 3, "period": "2026-11-27"},
        {"indicator": DAILY, "value": 4, "period": "2026-11-26"},
        {"indicator": RATE, "value": 140, "period": "2026-10"},
        {"indicator": "nope", "value": 1, "period": "2026-10"},
        {"indicator": DAILY, "value": 1, "period": "2026-11-29"},
    ]
    accepted = await client.post(
        "/api/v1/observations", json={"observations": rows}, headers=commune
    )
    assert accepted.status_code == 200
    refused = await client.post(
        "/api/v1/observations", json={"observations": rows[2:3]}, headers=commune
    )
    assert refused.status_code == 422
    unauthenticated = await client.post("/api/v1/observations", json={"observations": rows})
    assert unauthenticated.status_code == 401
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ioc_hub_pushes_total", endpoint="push", outcome="accepted") == 1
    assert moved("ioc_hub_pushes_total", endpoint="push", outcome="refused") == 1
    assert moved("ioc_hub_pushes_total", endpoint="push", outcome="unauthenticated") == 1
    assert moved("ioc_hub_push_rows_total", endpoint="push", outcome="created") == 2
    assert moved("ioc_hub_push_rows_total", endpoint="push", outcome="rejected") == 4
    assert moved("ioc_hub_rejected_rows_total", endpoint="push", reason="out_of_range") == 2
    assert moved("ioc_hub_rejected_rows_total", endpoint="push", reason="unknown_indicator") == 1
    assert moved("ioc_hub_rejected_rows_total", endpoint="push", reason="future_period") == 1
    assert moved("ioc_hub_push_seconds_count", endpoint="push") == 3
    assert moved("ioc_hub_push_batch_rows_count", endpoint="push") == 2
    assert moved("ioc_hub_push_batch_rows_sum", endpoint="push") == 6
    reasons = {labels for name, labels in after if name == "ioc_hub_rejected_rows_total"}
    assert all(len(dict(r)["reason"]) <= 20 for r in reasons), "codes, never free text"


async def test_coverage_gauges_count_series_and_connected_units(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    writer = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    empty = await scrape(client)
    assert value(empty, "ioc_hub_coverage_up") == 1
    assert value(empty, "ioc_hub_units_connected", kind="commune") == 0
    assert value(empty, "ioc_hub_units_registered", kind="commune") == 91
    never = value(empty, "ioc_hub_series", status="never")
    assert never > 0

    rows = [
        {"unit": unit, "indicator": DAILY, "value": 1, "period": "2026-11-27"}
        for unit in ("25741", "25747", "718")
    ]
    pushed = await client.post("/api/v1/observations", json={"observations": rows}, headers=writer)
    assert pushed.status_code == 200, pushed.text
    after = await scrape(client)
    assert value(after, "ioc_hub_units_connected", kind="commune") == 2
    assert value(after, "ioc_hub_units_connected", kind="district") == 1
    assert value(after, "ioc_hub_series", status="fresh") == 3
    assert value(after, "ioc_hub_series", status="never") == never - 3


async def test_stream_subscribers_are_counted(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, live_url: str
) -> None:
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    idle = value(await scrape(client), "ioc_hub_stream_subscribers")
    async with open_stream(live_url, operator), open_stream(live_url, operator):
        assert value(await scrape(client), "ioc_hub_stream_subscribers") == idle + 2
