"""The evaluator's passes on hand-made situations, the clock moved by hand: each rule kind fires
once, repeats at its rule's interval while it lasts, and resolves (docs/design.md §9); every
notification reaches the stream."""

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from ioc_hub.models import Scope
from tests.alerts.helpers import alerts, create_rule, evaluate, notices
from tests.conftest import Clock, MintKey, bearer
from tests.coverage.helpers import DAILY, get, push
from tests.coverage.test_coverage import article_situation, communes_of

SILENT_DEPARTMENT = "DEPT-SNGV"
COMMUNE, DISTRICT, OTHER_DISTRICT = "25741", "718", "719"


def counts(summary: Any) -> tuple[int, int, int]:
    return summary.fired, summary.repeated, summary.resolved


async def test_unit_silent_fires_once_repeats_at_its_interval_and_resolves(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    rule = await create_rule(
        client,
        auth,
        {"kind": "unit_silent", "unit_kind": "department"},
        repeat_interval_seconds=3600,
    )
    await article_situation(client, auth)
    async with notices(app) as heard:
        assert counts(await evaluate(app)) == (1, 0, 0)
        fired = await heard.next()
        assert fired.type == "alert.firing"
        assert fired.data["subject"] == f"unit:{SILENT_DEPARTMENT}"
        assert fired.data["unit"] == SILENT_DEPARTMENT
        assert fired.data["rule"] == rule["id"]
        assert (fired.data["state"], fired.data["repeats"]) == ("firing", 0)
        assert fired.data["details"]["last_contact_at"] is None
        assert "not heard from ever" in fired.data["summary"]

        # Once: the same instant, and up to the interval, say nothing more.
        assert counts(await evaluate(app)) == (0, 0, 0)
        clock.now += timedelta(minutes=59)
        assert counts(await evaluate(app)) == (0, 0, 0)
        await heard.none()

        clock.now += timedelta(minutes=1)
        assert counts(await evaluate(app)) == (0, 1, 0)
        repeat = await heard.next()
        assert repeat.type == "alert.firing"
        assert (repeat.data["id"], repeat.data["repeats"]) == (fired.data["id"], 1)

        await push(
            client,
            auth,
            [{"unit": SILENT_DEPARTMENT, "indicator": DAILY, "value": 1, "period": "2026-11-27"}],
        )
        assert counts(await evaluate(app)) == (0, 0, 1)
        resolved = await heard.next()
        assert resolved.type == "alert.resolved"
        assert resolved.data["id"] == fired.data["id"]
        assert resolved.data["state"] == "resolved"
        assert resolved.data["resolved_at"] == clock.now.isoformat().replace("+00:00", "Z")
        assert counts(await evaluate(app)) == (0, 0, 0)

    [listed] = await alerts(client, auth)
    assert listed["id"] == fired.data["id"]
    assert (listed["state"], listed["repeats"], listed["rule_name"]) == (
        "resolved",
        1,
        rule["name"],
    )


async def test_time_alone_silences_a_unit(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    """A commune with daily obligations is connected for two days (a day and its grace) after
    it was last heard from, boundary included; a second later it fires."""
    auth = bearer(admin_token)
    await create_rule(client, auth, {"kind": "unit_silent", "unit": COMMUNE})
    await push(
        client, auth, [{"unit": COMMUNE, "indicator": DAILY, "value": 1, "period": "2026-11-26"}]
    )
    assert counts(await evaluate(app)) == (0, 0, 0)
    clock.now += timedelta(days=2)
    assert counts(await evaluate(app)) == (0, 0, 0)
    clock.now += timedelta(seconds=1)
    assert counts(await evaluate(app)) == (1, 0, 0)
    [alert] = await alerts(client, auth, state="firing")
    assert alert["details"]["connection_window_seconds"] == 2 * 86_400
    assert alert["details"]["fastest_cadence"] == "daily"


async def test_coverage_below_fires_per_kind_and_area_and_keys_see_their_area(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_token: str,
    mint_key: MintKey,
    clock: Clock,
) -> None:
    auth = bearer(admin_token)
    departments = await create_rule(
        client, auth, {"kind": "coverage_below", "unit_kind": "department", "ratio": 0.95}
    )
    communes = await create_rule(
        client,
        auth,
        {"kind": "coverage_below", "unit_kind": "commune", "ratio": 1, "area": DISTRICT},
    )
    await article_situation(client, auth)
    async with notices(app) as heard:
        assert counts(await evaluate(app)) == (1, 0, 0)
        fired = await heard.next()
    assert fired.data["subject"] == "coverage:department@74"
    assert fired.data["unit"] == "74"
    assert fired.data["details"] == {
        "unit_kind": "department",
        "area": "74",
        "connected": 17,
        "registered": 18,
        "ratio": round(17 / 18, 4),
        "threshold": 0.95,
        "not_connected": [SILENT_DEPARTMENT],
    }
    assert fired.data["summary"] == "department in 74: 17/18 connected (94%), below 95%"

    # Three days on, nobody is connected: the communes of 718 fire too, about 718, and the
    # departments' alert is repeated (4 hours by default).
    clock.now += timedelta(days=3)
    assert counts(await evaluate(app)) == (1, 1, 0)
    [area_alert] = await alerts(client, auth, rule=communes["id"])
    assert area_alert["unit"] == DISTRICT
    assert area_alert["details"]["connected"] == 0
    assert area_alert["details"]["registered"] == len(communes_of(DISTRICT))

    district = bearer(await mint_key(DISTRICT, Scope.COVERAGE_READ))
    other = bearer(await mint_key(OTHER_DISTRICT, Scope.COVERAGE_READ))
    assert [a["id"] for a in await alerts(client, district)] == [area_alert["id"]]
    assert await alerts(client, other) == []
    assert len(await alerts(client, auth, area="74")) == 2
    assert [a["id"] for a in await alerts(client, auth, area=DISTRICT)] == [area_alert["id"]]
    assert [a["rule"] for a in await alerts(client, auth, rule=departments["id"])] == [
        departments["id"]
    ]

    await article_situation(client, auth)
    await push(
        client,
        auth,
        [{"unit": SILENT_DEPARTMENT, "indicator": DAILY, "value": 1, "period": "2026-11-30"}],
    )
    assert counts(await evaluate(app)) == (0, 0, 2)
    assert await alerts(client, auth, state="firing") == []


async def test_series_late_fires_when_late_long_enough_and_resolves_on_the_missing_period(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    """A daily period is due a day after it ends (midnight in Ho Chi Minh City, 17:00 UTC)."""
    auth = bearer(admin_token)
    selection = {"kind": "series_late", "indicator": DAILY, "area": DISTRICT}
    overdue = await create_rule(client, auth, {**selection, "late_for_seconds": 3600})
    stale = await create_rule(client, auth, {**selection, "status": "stale"})
    await push(
        client, auth, [{"unit": COMMUNE, "indicator": DAILY, "value": 1, "period": "2026-11-26"}]
    )
    assert counts(await evaluate(app)) == (0, 0, 0)  # 2026-11-26 is the expected period

    clock.set("2026-11-28T17:30:00+00:00")  # overdue since 17:00, not an hour yet
    assert counts(await evaluate(app)) == (0, 0, 0)
    clock.set("2026-11-28T18:00:00+00:00")
    async with notices(app) as heard:
        assert counts(await evaluate(app)) == (1, 0, 0)
        fired = await heard.next()
    assert fired.data["rule"] == overdue["id"]
    assert fired.data["subject"] == f"series:{COMMUNE}/{DAILY}"
    assert fired.data["details"] == {
        "indicator": DAILY,
        "group": "G-DVC",
        "cadence": "daily",
        "status": "overdue",
        "last_period": "2026-11-26",
        "expected_period": "2026-11-27",
        "lag_periods": 1,
        "late_since": "2026-11-28T17:00:00Z",
    }

    clock.set("2026-11-29T16:59:59+00:00")  # the overdue alert is repeated (every 4 hours)
    assert counts(await evaluate(app)) == (0, 1, 0)
    clock.set("2026-11-29T17:00:00+00:00")  # two periods missing: stale as well
    assert counts(await evaluate(app)) == (1, 0, 0)
    [stale_alert] = await alerts(client, auth, rule=stale["id"])
    assert stale_alert["details"]["late_since"] == "2026-11-29T17:00:00Z"
    assert stale_alert["details"]["lag_periods"] == 2

    # The unit catches up with the expected period: both resolve.
    await push(
        client, auth, [{"unit": COMMUNE, "indicator": DAILY, "value": 2, "period": "2026-11-28"}]
    )
    assert counts(await evaluate(app)) == (0, 0, 2)


async def test_series_late_can_include_series_that_never_reported(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await create_rule(
        client,
        auth,
        {"kind": "series_late", "indicator": DAILY, "area": DISTRICT, "include_never": True},
    )
    await push(
        client, auth, [{"unit": COMMUNE, "indicator": DAILY, "value": 1, "period": "2026-11-26"}]
    )
    staleness = await get(
        client, "staleness", auth, district=DISTRICT, indicator=DAILY, status="never", limit=1000
    )
    never = {f"series:{s['unit']}/{DAILY}" for s in staleness["items"]}
    assert len(never) == len(communes_of(DISTRICT))  # the district and its communes but one
    summary = await evaluate(app)
    assert summary.fired == len(never)
    fired = await alerts(client, auth, state="firing")
    assert {a["subject"] for a in fired} == never
    assert all(a["details"]["status"] == "never" for a in fired)


async def test_a_disabled_rule_resolves_and_a_deleted_one_announces_it(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    rule = await create_rule(client, auth, {"kind": "unit_silent", "unit": SILENT_DEPARTMENT})
    path = f"/api/v1/alert-rules/{rule['id']}"
    async with notices(app) as heard:
        assert counts(await evaluate(app)) == (1, 0, 0)
        first = await heard.next()
        assert (await client.get(path, headers=auth)).json()["firing"] == 1

        off = await client.patch(path, json={"enabled": False}, headers=auth)
        assert off.status_code == 200, off.text
        assert counts(await evaluate(app)) == (0, 0, 1)
        assert (await heard.next()).type == "alert.resolved"

        on = await client.patch(path, json={"enabled": True}, headers=auth)
        assert on.status_code == 200, on.text
        assert counts(await evaluate(app)) == (1, 0, 0)
        again = await heard.next()
        assert again.type == "alert.firing"
        assert again.data["id"] != first.data["id"]  # a new alert: the first one ended

        gone = await client.delete(path, headers=auth)
        assert gone.status_code == 200, gone.text
        assert gone.json()["firing"] == 1
        last = await heard.next()
        assert (last.type, last.data["id"]) == ("alert.resolved", again.data["id"])
    assert await alerts(client, auth) == []
    assert (await client.get(path, headers=auth)).status_code == 404


async def test_a_changed_condition_resolves_what_no_longer_holds(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await article_situation(client, auth)
    rule = await create_rule(client, auth, {"kind": "unit_silent", "unit_kind": "department"})
    assert counts(await evaluate(app)) == (1, 0, 0)
    body = {"name": "ministries", "condition": {"kind": "unit_silent", "unit_kind": "ministry"}}
    replaced = await client.put(f"/api/v1/alert-rules/{rule['id']}", json=body, headers=auth)
    assert replaced.status_code == 200, replaced.text
    assert counts(await evaluate(app)) == (0, 0, 1)


async def test_outlier_rules_are_kept_but_not_judged_here(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await create_rule(client, auth, {"kind": "outlier", "threshold": 3.5})
    summary = await evaluate(app)
    assert (summary.rules, *counts(summary)) == (1, 0, 0, 0)
