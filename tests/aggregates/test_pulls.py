"""Downstream pulls: ETag and 304, ``changed_since``, CSV, stable pages."""

import csv
import io

import httpx

from tests.aggregates.helpers import DISTRICT, A, B, make_indicator, oblige, push, table
from tests.conftest import Clock

URL = "/api/v1/aggregates"
OCTOBER = {
    "indicator": "T-DAY",
    "bucket": "monthly",
    "from": "2026-10",
    "to": "2026-11",
    "area": DISTRICT,
}


async def setup_day_indicator(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await make_indicator(client, admin, "T-DAY")
    await oblige(client, admin, indicator="T-DAY", unit_kind="commune", district=DISTRICT)


async def test_etag_answers_304_until_the_data_changes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await setup_day_indicator(client, admin)
    await push(client, admin, "T-DAY", [(A, "2026-10-01", 5)])
    first = await client.get(URL, params=OCTOBER, headers=admin)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag[0] == etag[-1] == '"', "a strong ETag"

    again = await client.get(URL, params=OCTOBER, headers={**admin, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak_in_a_list = {**admin, "If-None-Match": f'"other", W/{etag}'}
    assert (await client.get(URL, params=OCTOBER, headers=weak_in_a_list)).status_code == 304
    stale = {**admin, "If-None-Match": '"not-this-one"'}
    assert (await client.get(URL, params=OCTOBER, headers=stale)).status_code == 200

    await push(client, admin, "T-DAY", [(A, "2026-10-01", 6)])
    changed = await client.get(URL, params=OCTOBER, headers={**admin, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["items"][0]["value"] == 6.0

    # The same value sent again changes nothing, so the copy stays current.
    await push(client, admin, "T-DAY", [(A, "2026-10-01", 6)])
    new_etag = changed.headers["etag"]
    same = await client.get(URL, params=OCTOBER, headers={**admin, "If-None-Match": new_etag})
    assert same.status_code == 304


async def test_changed_since_returns_only_rows_whose_inputs_changed(
    client: httpx.AsyncClient, admin: dict[str, str], clock: Clock
) -> None:
    await setup_day_indicator(client, admin)
    clock.set("2026-11-20T03:00:00+00:00")
    await push(client, admin, "T-DAY", [(A, "2026-10-01", 5), (B, "2026-10-02", 7)])
    clock.set("2026-11-21T03:00:00+00:00")
    await push(client, admin, "T-DAY", [(A, "2026-11-20", 1)])
    clock.set("2026-11-28T10:00:00+00:00")

    everything = await client.get(URL, params=OCTOBER, headers=admin)
    assert table(everything.json()["items"]) == [
        ("2026-10", DISTRICT, 12.0, 2, 7 * 31),
        ("2026-11", DISTRICT, 1.0, 1, 7 * 28),
    ]
    since = {**OCTOBER, "changed_since": "2026-11-21T00:00:00+00:00"}
    assert table((await client.get(URL, params=since, headers=admin)).json()["items"]) == [
        ("2026-11", DISTRICT, 1.0, 1, 7 * 28)
    ]

    # Revising an old value brings its whole bucket back, recomputed.
    clock.set("2026-11-28T09:00:00+00:00")
    await push(client, admin, "T-DAY", [(B, "2026-10-02", 8)])
    since = {**OCTOBER, "changed_since": "2026-11-28T16:00:00+07:00"}
    assert table((await client.get(URL, params=since, headers=admin)).json()["items"]) == [
        ("2026-10", DISTRICT, 13.0, 2, 7 * 31)
    ]
    # Rows with nothing received (gaps) never come back from a changed_since poll.
    by_commune = {**since, "level": "commune"}
    assert table((await client.get(URL, params=by_commune, headers=admin)).json()["items"]) == [
        ("2026-10", B, 8.0, 1, 31)
    ]
    later = {**OCTOBER, "changed_since": "2026-11-28T10:00:00Z"}
    assert (await client.get(URL, params=later, headers=admin)).json()["items"] == []


async def test_csv_on_request_by_accept_or_format(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await setup_day_indicator(client, admin)
    await push(client, admin, "T-DAY", [(A, "2026-10-01", 5.5)])
    params = {**OCTOBER, "level": "commune", "to": "2026-10"}
    by_accept = await client.get(URL, params=params, headers={**admin, "Accept": "text/csv"})
    assert by_accept.status_code == 200
    assert by_accept.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_accept.headers["x-total-count"] == "7"
    lines = by_accept.text.split("\r\n")
    assert lines[0] == "indicator,period,area,value,reported,expected,approximate"
    assert lines[1] == f"T-DAY,2026-10,{A},5.5,1,31,false"
    assert lines[2] == f"T-DAY,2026-10,{B},,0,31,false", "a gap has an empty value"
    assert lines[-1] == ""
    parsed = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert len(parsed) == 7

    by_format = await client.get(URL, params={**params, "format": "csv"}, headers=admin)
    assert by_format.text == by_accept.text
    assert (
        by_format.headers["etag"]
        != (await client.get(URL, params=params, headers=admin)).headers["etag"]
    ), "JSON and CSV are different representations"

    prefers_json = {**admin, "Accept": "text/csv;q=0.5, application/json"}
    assert (await client.get(URL, params=params, headers=prefers_json)).headers[
        "content-type"
    ] == "application/json"
    forced = {**params, "format": "json"}
    json_anyway = await client.get(URL, params=forced, headers={**admin, "Accept": "text/csv"})
    assert json_anyway.headers["content-type"] == "application/json"

    cached = await client.get(
        URL,
        params={**params, "format": "csv"},
        headers={**admin, "If-None-Match": by_accept.headers["etag"]},
    )
    assert cached.status_code == 304


async def test_pages_are_stable_and_add_up_to_the_whole(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await setup_day_indicator(client, admin)
    await push(client, admin, "T-DAY", [(A, "2026-10-01", 1), (B, "2026-11-01", 2)])
    params = {**OCTOBER, "level": "commune"}
    whole = (await client.get(URL, params=params, headers=admin)).json()
    assert whole["total"] == 14  # 7 communes × 2 months
    keys = [(r["period"], r["area"]) for r in whole["items"]]
    assert keys == sorted(keys), "ordered by period, then area code"

    pages = []
    for offset in range(0, 14, 5):
        page = await client.get(URL, params={**params, "limit": 5, "offset": offset}, headers=admin)
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (14, 5, offset)
        pages.extend(body["items"])
    assert pages == whole["items"]

    csv_page = await client.get(
        URL, params={**params, "limit": 3, "offset": 3, "format": "csv"}, headers=admin
    )
    assert csv_page.headers["x-total-count"] == "14"
    assert len(csv_page.text.strip().split("\r\n")) == 1 + 3
