"""/api/v1/alert-rules: create, list, read, replace, update and delete rules with `alerts:admin`
on a province key; each kind's parameters validated, bad input refused with 422 naming the
field and nothing written. /api/v1/alerts: filters and their refusals."""

from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.alerts.helpers import create_rule
from tests.conftest import MintKey, bearer
from tests.coverage.helpers import DAILY, assert_problem

RULES = "/api/v1/alert-rules"

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "coverage_below", "unit_kind": "department", "ratio": 0.95},
    {"kind": "coverage_below", "unit_kind": "commune", "ratio": 1, "area": "718"},
    {"kind": "series_late", "group": "G-DVC", "status": "stale", "late_for_seconds": 86_400},
    {"kind": "series_late", "indicator": DAILY, "area": "74", "unit_kind": "commune"},
    {"kind": "unit_silent", "unit": "DEPT-SNGV"},
    {"kind": "unit_silent", "unit_kind": "commune", "area": "718"},
    {"kind": "outlier", "threshold": 3.5, "indicator": DAILY},
]


async def count(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    listed = await client.get(RULES, headers=auth)
    assert listed.status_code == 200, listed.text
    total: int = listed.json()["total"]
    return total


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c["kind"])
async def test_a_rule_of_each_kind_goes_through_its_whole_life(
    client: httpx.AsyncClient, admin_token: str, condition: dict[str, Any]
) -> None:
    auth = bearer(admin_token)
    created = await create_rule(client, auth, condition)
    assert created["kind"] == condition["kind"]
    assert {k: created["condition"][k] for k in condition} == condition
    assert (created["repeat_interval_seconds"], created["enabled"], created["firing"]) == (
        4 * 3600,
        True,
        0,
    )
    path = f"{RULES}/{created['id']}"
    assert (await client.get(path, headers=auth)).json() == created
    assert (await client.get(RULES, headers=auth)).json()["items"] == [created]

    patched = await client.patch(
        path, json={"name": "renamed", "repeat_interval_seconds": 600}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["repeat_interval_seconds"]) == ("renamed", 600)
    assert patched.json()["condition"] == created["condition"]

    replacement = {"name": "whole", "condition": {"kind": "unit_silent"}, "enabled": False}
    replaced = await client.put(path, json=replacement, headers=auth)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["kind"], body["enabled"], body["repeat_interval_seconds"]) == (
        "unit_silent",
        False,
        4 * 3600,
    )

    deleted = await client.delete(path, headers=auth)
    assert deleted.status_code == 200, deleted.text
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        json = replacement if method in ("PUT", "PATCH") else None
        gone = await client.request(method, path, json=json, headers=auth)
        assert_problem(gone, 404, "path.rule_id", "does not exist")


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"condition": {"kind": "nope"}}, "body.condition", "tag"),
    ({"condition": {"unit_kind": "commune"}}, "body.condition", "kind"),
    (
        {"condition": {"kind": "coverage_below", "unit_kind": "department", "ratio": 1.5}},
        "body.condition.coverage_below.ratio",
        "less than or equal to 1",
    ),
    (
        {"condition": {"kind": "coverage_below", "unit_kind": "department", "ratio": "0.5"}},
        "body.condition.coverage_below.ratio",
        "JSON number",
    ),
    (
        {"condition": {"kind": "coverage_below", "unit_kind": "province", "ratio": 0.5}},
        "body.condition.coverage_below.unit_kind",
        "Input should be",
    ),
    (
        {"condition": {"kind": "coverage_below", "ratio": 0.5}},
        "body.condition.coverage_below.unit_kind",
        "Field required",
    ),
    (
        {"condition": {"kind": "series_late", "late_for_seconds": -1}},
        "body.condition.series_late.late_for_seconds",
        "greater than or equal to 0",
    ),
    (
        {"condition": {"kind": "series_late", "status": "fresh"}},
        "body.condition.series_late.status",
        "'overdue' or 'stale'",
    ),
    (
        {"condition": {"kind": "unit_silent", "units": ["25741"]}},
        "body.condition.unit_silent.units",
        "Extra inputs",
    ),
    (
        {"condition": {"kind": "outlier", "threshold": -1}},
        "body.condition.outlier.threshold",
        "greater than or equal to 0",
    ),
    (
        {"condition": {"kind": "unit_silent"}, "repeat_interval_seconds": 10},
        "body.repeat_interval_seconds",
        "greater than or equal to 60",
    ),
    ({"condition": {"kind": "unit_silent"}, "name": "   "}, "body.name", "at least 1 character"),
    ({"condition": {"kind": "unit_silent"}, "enabled": "yes"}, "body.enabled", "boolean"),
    # Rules over stored data: named units, indicators and groups exist and fit.
    (
        {"condition": {"kind": "unit_silent", "area": "NOPE"}},
        "body.condition.unit_silent.area",
        "unit 'NOPE' does not exist",
    ),
    (
        {"condition": {"kind": "unit_silent", "area": "25741"}},
        "body.condition.unit_silent.area",
        "is a commune: name a district, a province or the nation",
    ),
    (
        {"condition": {"kind": "unit_silent", "unit": "74"}},
        "body.condition.unit_silent.unit",
        "the province itself reports nothing",
    ),
    (
        {"condition": {"kind": "series_late", "indicator": "NOPE"}},
        "body.condition.series_late.indicator",
        "indicator 'NOPE' does not exist",
    ),
    (
        {"condition": {"kind": "series_late", "group": "G-NOPE"}},
        "body.condition.series_late.group",
        "indicator group 'G-NOPE' does not exist",
    ),
]


@pytest.mark.parametrize(("body", "field", "reason"), BAD, ids=lambda v: str(v)[:60])
async def test_bad_rules_are_refused_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient, admin_token: str, body: dict[str, Any], field: str, reason: str
) -> None:
    auth = bearer(admin_token)
    refused = await client.post(RULES, json={"name": "bad", **body}, headers=auth)
    assert_problem(refused, 422, field, reason)
    assert await count(client, auth) == 0
    rule = await create_rule(client, auth, {"kind": "unit_silent"})
    put = await client.put(f"{RULES}/{rule['id']}", json={"name": "bad", **body}, headers=auth)
    assert_problem(put, 422, field, reason)
    assert (await client.get(f"{RULES}/{rule['id']}", headers=auth)).json() == rule


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"name": None}, "body.name", "may not be null"),
        ({"condition": None}, "body.condition", "may not be null"),
        ({"enabled": None}, "body.enabled", "may not be null"),
        ({"kind": "outlier"}, "body.kind", "Extra inputs"),
        (
            {"condition": {"kind": "unit_silent", "area": "719x"}},
            "body.condition.unit_silent.area",
            "does not exist",
        ),
    ],
)
async def test_bad_updates_are_refused(
    client: httpx.AsyncClient, admin_token: str, body: dict[str, Any], field: str, reason: str
) -> None:
    auth = bearer(admin_token)
    rule = await create_rule(client, auth, {"kind": "unit_silent"})
    refused = await client.patch(f"{RULES}/{rule['id']}", json=body, headers=auth)
    assert_problem(refused, 422, field, reason)
    assert (await client.get(f"{RULES}/{rule['id']}", headers=auth)).json() == rule


async def test_rules_need_alerts_admin_on_a_province_key(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    body = {"name": "r", "condition": {"kind": "unit_silent"}}
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    refused = await client.post(RULES, json=body, headers=operator)
    assert refused.status_code == 403, refused.text
    assert "alerts:admin" in refused.json()["detail"]
    district = bearer(await mint_key("718", Scope.ALERTS_ADMIN))
    for method, path in (("POST", RULES), ("GET", RULES), ("GET", f"{RULES}/1")):
        answer = await client.request(method, path, json=body, headers=district)
        assert answer.status_code == 403, answer.text
        assert "province-wide" in answer.json()["detail"]
    assert await count(client, bearer(admin_token)) == 0


@pytest.mark.parametrize(
    ("params", "status", "field", "reason"),
    [
        ({"area": "NOPE"}, 404, "query.area", "does not exist"),
        ({"area": "25741"}, 422, "query.area", "is a commune"),
        ({"state": "sleeping"}, 422, "query.state", "'firing' or 'resolved'"),
        ({"rule": 0}, 422, "query.rule", "greater than or equal to 1"),
    ],
)
async def test_alert_filters_are_checked(
    client: httpx.AsyncClient,
    admin_token: str,
    params: dict[str, Any],
    status: int,
    field: str,
    reason: str,
) -> None:
    answer = await client.get("/api/v1/alerts", params=params, headers=bearer(admin_token))
    assert_problem(answer, status, field, reason)


async def test_a_key_may_not_filter_outside_its_area(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    district = bearer(await mint_key("718", Scope.COVERAGE_READ))
    answer = await client.get("/api/v1/alerts", params={"area": "719"}, headers=district)
    assert_problem(answer, 403, "query.area", "outside this key's area")
