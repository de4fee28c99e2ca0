"""GET /api/v1/outliers (docs/design.md §9): stored values judged against their series'
baselines, worst first, JSON or CSV, within the key's area; bad parameters are 422s naming
the field; and the `outlier` stream event of a value flagged at ingest."""

import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.quality.helpers import (
    COMMUNE,
    DAILY,
    NEIGHBOUR,
    NOW,
    ROW_30,
    push,
    push_baseline,
    rows,
)
from tests.stream.sse import open_stream
from tests.stream.test_stream import valid

NOVEMBER = {"indicator": DAILY, "from": "2026-11", "to": "2026-11"}


@pytest.fixture
async def keys(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, dict[str, str]]:
    clock.set(NOW)
    return {
        "writer": bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE)),
        "operator": bearer(await mint_key("74", Scope.COVERAGE_READ)),
        "district": bearer(await mint_key("718", Scope.COVERAGE_READ)),
        "neighbour": bearer(await mint_key(NEIGHBOUR, Scope.COVERAGE_READ)),
        "reader": bearer(await mint_key("74", Scope.AGGREGATES_READ)),
    }


@pytest.fixture
async def november(client: httpx.AsyncClient, keys: dict[str, dict[str, str]]) -> None:
    """The commune's baseline, then 30 (an outlier), 13 and 15 in November; the neighbour
    the same baseline and 100."""
    await push_baseline(client, keys["writer"])
    await push_baseline(client, keys["writer"], NEIGHBOUR)
    days = [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    await push(client, keys["writer"], rows(COMMUNE, days, [30.0, 13.0, 15.0]))
    await push(client, keys["writer"], rows(NEIGHBOUR, days[:1], [100.0]))


async def outliers(
    client: httpx.AsyncClient, auth: dict[str, str], **params: Any
) -> httpx.Response:
    return await client.get("/api/v1/outliers", params=params, headers=auth)


async def test_outliers_worst_first_with_hand_computed_figures(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    response = await outliers(client, keys["operator"], **NOVEMBER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["algorithm"], body["threshold"], body["judged"], body["total"]) == (
        "modified_z",
        3.0,
        4,
        2,
    )
    worst, second = body["items"]
    assert worst["unit"] == NEIGHBOUR
    assert worst["score"] == pytest.approx(0.6745 * 88 / 2)
    assert second == ROW_30
    assert response.headers["X-Total-Count"] == "2"
    first = await outliers(client, keys["operator"], max_results=1, **NOVEMBER)
    assert [r["unit"] for r in first.json()["items"]] == [NEIGHBOUR]
    assert first.json()["total"] == 2


async def test_z_score_and_threshold(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    # sd = √(160/59) ≈ 1.647: 15 scores 1.82, 30 scores 10.9, 100 scores 53.4.
    z = await outliers(client, keys["operator"], algorithm="z_score", threshold=1.5, **NOVEMBER)
    assert z.status_code == 200, z.text
    assert [(r["value"], r["n"]) for r in z.json()["items"]] == [(100, 60), (30, 60), (15, 60)]
    high = await outliers(client, keys["operator"], algorithm="z_score", threshold=20, **NOVEMBER)
    assert [r["value"] for r in high.json()["items"]] == [100]


async def test_range_flags_values_outside_the_bounds(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    bounded = await outliers(client, keys["operator"], algorithm="range", upper=20, **NOVEMBER)
    assert bounded.status_code == 200, bounded.text
    assert [(r["value"], r["score"], r["upper"], r["centre"]) for r in bounded.json()["items"]] == [
        (100, 80, 20, None),
        (30, 10, 20, None),
    ]
    # The indicator's own range (0..20000) holds every stored value.
    own = await outliers(client, keys["operator"], algorithm="range", **NOVEMBER)
    assert own.json()["total"] == 0


async def test_a_fixed_baseline_window(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    # September alone: 10, 12, 14 ten times each, median 12, MAD 2 — the same figures, n 30.
    fixed = await outliers(
        client,
        keys["operator"],
        baseline_from="2026-09",
        baseline_to="2026-09",
        area=COMMUNE,
        **NOVEMBER,
    )
    assert fixed.status_code == 200, fixed.text
    assert [(r["value"], r["n"]) for r in fixed.json()["items"]] == [(30, 30)]
    # A baseline of October's last day only: too short to judge.
    short = await outliers(
        client, keys["operator"], baseline_from="2026-10-30", baseline_to="2026-10-30", **NOVEMBER
    )
    assert short.json()["total"] == 0
    # Each value's own month, one month back: October's 30 values.
    months = await outliers(client, keys["operator"], baseline_months=1, area=COMMUNE, **NOVEMBER)
    assert [(r["value"], r["n"]) for r in months.json()["items"]] == [(30, 30)]


async def test_csv_by_format_or_accept(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    by_param = await outliers(client, keys["operator"], format="csv", **NOVEMBER)
    assert by_param.status_code == 200
    assert by_param.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(by_param.text)))
    assert table[0] == [
        "unit", "indicator", "period", "value", "centre", "spread", "score", "lower", "upper", "n"
    ]  # fmt: skip
    assert [r[0] for r in table[1:]] == [NEIGHBOUR, COMMUNE]
    assert table[2][:6] == [COMMUNE, DAILY, "2026-11-02", "30.0", "12.0", "2.0"]
    by_accept = await client.get(
        "/api/v1/outliers",
        params=NOVEMBER,
        headers={**keys["operator"], "Accept": "text/csv"},
    )
    assert by_accept.text == by_param.text


async def test_a_key_sees_its_own_area_only(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    district = await outliers(client, keys["district"], **NOVEMBER)
    assert [r["unit"] for r in district.json()["items"]] == [COMMUNE]
    neighbour = await outliers(client, keys["neighbour"], **NOVEMBER)
    assert [r["unit"] for r in neighbour.json()["items"]] == [NEIGHBOUR]
    outside = await outliers(client, keys["neighbour"], area=COMMUNE, **NOVEMBER)
    assert outside.status_code == 403
    assert outside.json()["errors"][0]["field"] == "query.area"
    in_area = await outliers(client, keys["operator"], area="718", **NOVEMBER)
    assert [r["unit"] for r in in_area.json()["items"]] == [COMMUNE]
    unscoped = await outliers(client, keys["reader"], **NOVEMBER)
    assert unscoped.status_code == 403


async def test_the_default_window_is_the_90_days_to_today(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], november: None
) -> None:
    # 2026-08-31 .. 2026-11-28: the baseline days are judged too, against too little history.
    response = await outliers(client, keys["operator"])
    assert response.status_code == 200
    assert response.json()["judged"] == 124
    assert response.json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({"from": "2026-11-20", "to": "2026-11-10"}, "query.from", 422),
        ({"from": "2026-12", "to": "2026-11"}, "query.from", 422),
        ({"algorithm": "median"}, "query.algorithm", 422),
        ({"threshold": "-1"}, "query.threshold", 422),
        ({"threshold": "nan"}, "query.threshold", 422),
        ({"max_results": "0"}, "query.max_results", 422),
        ({"from": "2026-13"}, "query.from", 422),
        ({"from": "2026-02-30"}, "query.from", 422),
        ({"lower": "5"}, "query.lower", 422),
        ({"algorithm": "range", "lower": "5", "upper": "1"}, "query.lower", 422),
        ({"algorithm": "range", "baseline_months": "3"}, "query.baseline_months", 422),
        ({"baseline_from": "2026-01"}, "query.baseline_to", 422),
        ({"baseline_from": "2026-05", "baseline_to": "2026-01"}, "query.baseline_from", 422),
        (
            {"baseline_months": "2", "baseline_from": "2026-01", "baseline_to": "2026-02"},
            "query.baseline_months",
            422,
        ),
        ({"baseline_months": "0"}, "query.baseline_months", 422),
        ({"indicator": "NO-SUCH"}, "query.indicator", 404),
        ({"area": "99999"}, "query.area", 404),
    ],
)
async def test_bad_parameters_name_the_field(
    client: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    params: dict[str, str],
    field: str,
    status: int,
) -> None:
    response = await outliers(client, keys["operator"], **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


async def test_a_value_flagged_at_ingest_is_an_outlier_event(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    await push_baseline(client, keys["writer"])
    async with open_stream(live_url, keys["district"]) as stream:
        await push(client, keys["writer"], rows(COMMUNE, [date(2026, 11, 2)], [30.0]))
        event, _ = await stream.until(lambda e: e.type == "outlier")
    assert valid(event).data == {
        "unit": COMMUNE,
        "kind": "commune",
        "parent": "718",
        "at": "2026-11-28T10:00:00Z",
        **{k: v for k, v in ROW_30.items() if k != "unit"},
        "algorithm": "modified_z",
        "threshold": 3.0,
    }
