"""Who may call what (issue 7, access): every route of the app × eight callers → the expected
status. The bodies and parameters are valid, so a status reflects access, never validation.

A route added to the app without a row here fails ``test_every_route_has_a_row``.
"""

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer

DAILY = "DVC-HS-TIEP-NHAN"
OPEN_INDICATOR = "DVC-TY-LE-TRUC-TUYEN"  # published on /open
GROUP = "G-DVC"
DAY = "2026-11-27"  # yesterday by the test clock
COMMUNE, DISTRICT, OTHER_DISTRICT, PROVINCE = "25741", "718", "719", "74"
FIELD_SCOPES = (
    Scope.OBSERVATIONS_WRITE,
    Scope.OBSERVATIONS_IMPORT,
    Scope.AGGREGATES_READ,
    Scope.COVERAGE_READ,
)
CALLERS = [
    "none",
    "unknown",
    "revoked",
    "commune",
    "other_district",
    "district",
    "operator",
    "admin",
]


@dataclass
class Ctx:
    """The keys of one test and a counter for names that must be new in every cell."""

    client: httpx.AsyncClient
    tokens: dict[str, str]
    serial: Iterator[int] = field(default_factory=itertools.count)

    def new(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    async def admin(self, method: str, path: str, json: object = None) -> dict[str, Any]:
        answer = await self.client.request(
            method, path, json=json, headers=bearer(self.tokens["admin"])
        )
        assert answer.status_code < 300, answer.text
        body: dict[str, Any] = answer.json()
        return body


Request = tuple[str, str, dict[str, Any]]
Build = Callable[[Ctx], Awaitable[Request]]


def fixed(method: str, path: str, **kwargs: Any) -> Build:
    async def build(ctx: Ctx) -> Request:
        return method, path, kwargs

    return build


def push(path: str) -> Build:
    async def build(ctx: Ctx) -> Request:
        row: dict[str, object] = {"unit": COMMUNE, "indicator": DAILY, "value": 4, "period": DAY}
        if path.endswith("/imports"):
            row["received_at"] = f"{DAY}T17:00:00+07:00"
        return "POST", path, {"json": {"observations": [row]}}

    return build


async def new_unit(ctx: Ctx) -> str:
    code = ctx.new("X")
    body = {"code": code, "name": f"Ấp {code}", "kind": "commune", "parent": DISTRICT}
    await ctx.admin("POST", "/api/v1/units", body)
    return code


async def new_indicator(ctx: Ctx) -> str:
    code = ctx.new("T-IND")
    await ctx.admin("POST", "/api/v1/indicators", indicator_body(code))
    return code


def indicator_body(code: str) -> dict[str, object]:
    return {
        "code": code,
        "name": f"Chỉ tiêu {code}",
        "group": GROUP,
        "cadence": "daily",
        "measurement_unit": "hồ sơ",
        "time_aggregation": "sum",
        "area_aggregation": "sum",
    }


async def create_unit(ctx: Ctx) -> Request:
    code = ctx.new("N")
    body = {"code": code, "name": f"Ấp {code}", "kind": "commune", "parent": DISTRICT}
    return "POST", "/api/v1/units", {"json": body}


async def patch_unit(ctx: Ctx) -> Request:
    return "PATCH", f"/api/v1/units/{await new_unit(ctx)}", {"json": {"name": "Ấp mới"}}


async def delete_unit(ctx: Ctx) -> Request:
    return "DELETE", f"/api/v1/units/{await new_unit(ctx)}", {}


async def create_key(ctx: Ctx) -> Request:
    body = {"unit": COMMUNE, "scopes": ["observations:write"], "name": ctx.new("k")}
    return "POST", "/api/v1/keys", {"json": body}


async def revoke_key(ctx: Ctx) -> Request:
    body = {"unit": COMMUNE, "scopes": ["observations:write"], "name": ctx.new("doomed")}
    created = await ctx.admin("POST", "/api/v1/keys", body)
    return "DELETE", f"/api/v1/keys/{created['id']}", {}


async def create_group(ctx: Ctx) -> Request:
    code = ctx.new("G-T")
    return "POST", "/api/v1/indicator-groups", {"json": {"code": code, "name": code}}


async def create_indicator(ctx: Ctx) -> Request:
    return "POST", "/api/v1/indicators", {"json": indicator_body(ctx.new("T-NEW"))}


async def patch_indicator(ctx: Ctx) -> Request:
    path = f"/api/v1/indicators/{await new_indicator(ctx)}"
    return "PATCH", path, {"json": {"name": "Tên mới"}}


async def delete_indicator(ctx: Ctx) -> Request:
    return "DELETE", f"/api/v1/indicators/{await new_indicator(ctx)}", {}


async def create_obligation(ctx: Ctx) -> Request:
    body = {"indicator": await new_indicator(ctx), "unit": COMMUNE}
    return "POST", "/api/v1/obligations", {"json": body}


async def delete_obligation(ctx: Ctx) -> Request:
    body = {"indicator": await new_indicator(ctx), "unit": COMMUNE}
    created = await ctx.admin("POST", "/api/v1/obligations", body)
    return "DELETE", f"/api/v1/obligations/{created['id']}", {}


def reorganisation(ctx: Ctx) -> dict[str, Any]:
    start = {"code": ctx.new("X"), "name": "Xã Mới", "kind": "commune", "parent": DISTRICT}
    return {"name": ctx.new("new commune"), "effective": "2025-07-01", "starts": [start]}


async def create_reorganisation(ctx: Ctx) -> Request:
    return "POST", "/api/v1/reorganisations", {"json": reorganisation(ctx)}


async def undo_reorganisation(ctx: Ctx) -> Request:
    created = await ctx.admin("POST", "/api/v1/reorganisations", reorganisation(ctx))
    return "DELETE", f"/api/v1/reorganisations/{created['id']}", {}


@dataclass(frozen=True)
class Row:
    build: Build
    expected: dict[str, int]


def statuses(*codes: int) -> dict[str, int]:
    """Expected statuses in the order of ``CALLERS``."""
    assert len(codes) == len(CALLERS)
    return dict(zip(CALLERS, codes, strict=True))


# fmt: off
#                 none unknown revoked commune other district operator admin
OPEN = statuses(   200, 200,    200,    200,    200,  200,     200,     200)  # no key needed
ANY_KEY = statuses(401, 401,    401,    200,    200,  200,     200,     200)  # whole registry
ADMIN = statuses(  401, 401,    401,    403,    403,  403,     403,     200)  # admin scopes
CREATE = statuses( 401, 401,    401,    403,    403,  403,     403,     201)
# Reads about district 718's area: its communes and other districts' keys are outside it.
AREA = statuses(   401, 401,    401,    403,    403,  200,     200,     200)
# Reads about commune 25741: its own key, its district and the province see it.
COMMUNE_READ = statuses(401, 401, 401,  200,    403,  200,     200,     200)
# A push for commune 25741: the other district's row is rejected as outside its area, and a
# batch whose every row is rejected is refused whole (422, per-row reasons); the operator key
# lacks observations:write.
PUSH = statuses(   401, 401,    401,    200,    422,  200,     403,     200)
HEARTBEAT = statuses(401, 401,  401,    200,    403,  200,     403,     200)
# Backfill imports are for province-level keys with observations:import only.
IMPORT = statuses( 401, 401,    401,    403,    403,  403,     403,     200)
# fmt: on

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/health"): Row(fixed("GET", "/health"), OPEN),
    ("GET", "/ready"): Row(fixed("GET", "/ready"), OPEN),
    ("GET", "/metrics"): Row(fixed("GET", "/metrics"), OPEN),
    ("GET", "/"): Row(fixed("GET", "/"), OPEN),
    ("GET", "/dashboard"): Row(fixed("GET", "/dashboard"), OPEN),
    ("GET", "/dashboard/static/{name}"): Row(fixed("GET", "/dashboard/static/dashboard.js"), OPEN),
    ("GET", "/openapi.json"): Row(fixed("GET", "/openapi.json"), OPEN),
    ("GET", "/docs"): Row(fixed("GET", "/docs"), OPEN),
    ("GET", "/docs/oauth2-redirect"): Row(fixed("GET", "/docs/oauth2-redirect"), OPEN),
    ("GET", "/redoc"): Row(fixed("GET", "/redoc"), OPEN),
    ("POST", "/api/v1/units"): Row(create_unit, CREATE),
    ("GET", "/api/v1/units"): Row(fixed("GET", "/api/v1/units"), ANY_KEY),
    ("GET", "/api/v1/units/{code}"): Row(fixed("GET", f"/api/v1/units/{COMMUNE}"), ANY_KEY),
    ("PATCH", "/api/v1/units/{code}"): Row(patch_unit, ADMIN),
    ("DELETE", "/api/v1/units/{code}"): Row(delete_unit, ADMIN),
    ("POST", "/api/v1/reorganisations"): Row(create_reorganisation, CREATE),
    ("GET", "/api/v1/reorganisations"): Row(fixed("GET", "/api/v1/reorganisations"), ANY_KEY),
    ("GET", "/api/v1/reorganisations/builtin/{name}"): Row(
        fixed("GET", "/api/v1/reorganisations/builtin/binh-duong-2025"), ANY_KEY
    ),
    ("DELETE", "/api/v1/reorganisations/{id}"): Row(undo_reorganisation, ADMIN),
    ("POST", "/api/v1/keys"): Row(create_key, CREATE),
    ("GET", "/api/v1/keys"): Row(fixed("GET", "/api/v1/keys"), ADMIN),
    ("DELETE", "/api/v1/keys/{key_id}"): Row(revoke_key, ADMIN),
    ("POST", "/api/v1/observations"): Row(push("/api/v1/observations"), PUSH),
    ("POST", "/api/v1/imports"): Row(push("/api/v1/imports"), IMPORT),
    ("POST", "/api/v1/heartbeat"): Row(
        fixed("POST", "/api/v1/heartbeat", json={"unit": COMMUNE}), HEARTBEAT
    ),
    ("GET", "/api/v1/observations"): Row(
        fixed("GET", "/api/v1/observations", params={"unit": COMMUNE, "indicator": DAILY}),
        COMMUNE_READ,
    ),
    ("GET", "/api/v1/observations/{unit}/{indicator}/{period}/revisions"): Row(
        fixed("GET", f"/api/v1/observations/{COMMUNE}/{DAILY}/{DAY}/revisions"), COMMUNE_READ
    ),
    ("GET", "/api/v1/rejections"): Row(fixed("GET", "/api/v1/rejections"), ANY_KEY),
    ("POST", "/api/v1/indicator-groups"): Row(create_group, CREATE),
    ("GET", "/api/v1/indicator-groups"): Row(fixed("GET", "/api/v1/indicator-groups"), ANY_KEY),
    ("GET", "/api/v1/indicator-groups/{code}"): Row(
        fixed("GET", f"/api/v1/indicator-groups/{GROUP}"), ANY_KEY
    ),
    ("POST", "/api/v1/indicators"): Row(create_indicator, CREATE),
    ("GET", "/api/v1/indicators"): Row(fixed("GET", "/api/v1/indicators"), ANY_KEY),
    ("GET", "/api/v1/indicators/{code}"): Row(fixed("GET", f"/api/v1/indicators/{DAILY}"), ANY_KEY),
    ("PATCH", "/api/v1/indicators/{code}"): Row(patch_indicator, ADMIN),
    ("DELETE", "/api/v1/indicators/{code}"): Row(delete_indicator, ADMIN),
    ("POST", "/api/v1/obligations"): Row(create_obligation, CREATE),
    ("GET", "/api/v1/obligations"): Row(fixed("GET", "/api/v1/obligations"), ANY_KEY),
    ("DELETE", "/api/v1/obligations/{obligation_id}"): Row(delete_obligation, ADMIN),
    ("GET", "/api/v1/aggregates"): Row(
        fixed("GET", "/api/v1/aggregates", params={"indicator": DAILY, "area": DISTRICT}),
        AREA,
    ),
    ("GET", "/open/v1/catalog"): Row(fixed("GET", "/open/v1/catalog"), OPEN),
    ("GET", "/open/v1/data/{indicator}"): Row(
        fixed("GET", f"/open/v1/data/{OPEN_INDICATOR}"), OPEN
    ),
    ("GET", "/api/v1/coverage"): Row(
        fixed("GET", "/api/v1/coverage", params={"district": DISTRICT}), AREA
    ),
    ("GET", "/api/v1/staleness"): Row(
        fixed("GET", "/api/v1/staleness", params={"district": DISTRICT}), AREA
    ),
    ("GET", "/api/v1/completeness"): Row(
        fixed(
            "GET",
            "/api/v1/completeness",
            params={"from": "2026-11-01", "to": DAY, "district": DISTRICT},
        ),
        AREA,
    ),
    # Server-Sent Events: the stream never ends, so the probe opens it and reads the status only.
    ("GET", "/api/v1/stream"): Row(fixed("GET", "/api/v1/stream"), ANY_KEY),
}


def app_routes(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers, HEAD left out."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from app_routes(included.routes)
            continue
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                yield method, getattr(route, "path", "")


def test_every_route_has_a_row(hub_app: FastAPI) -> None:
    served = set(app_routes(hub_app.routes))
    assert served, "no routes found: did FastAPI change how it nests routers?"
    missing = sorted(served - MATRIX.keys())
    stale = sorted(MATRIX.keys() - served)
    assert not missing, f"routes without an access-matrix row: {missing}"
    assert not stale, f"matrix rows for routes the app no longer serves: {stale}"


@pytest.fixture
async def tokens(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> dict[str, str]:
    keys = {
        "admin": await mint_key(PROVINCE, *Scope, name="admin"),
        "operator": await mint_key(
            PROVINCE, Scope.COVERAGE_READ, Scope.AGGREGATES_READ, name="operator"
        ),
        "district": await mint_key(DISTRICT, *FIELD_SCOPES, name="district"),
        "other_district": await mint_key(OTHER_DISTRICT, *FIELD_SCOPES, name="other"),
        "commune": await mint_key(COMMUNE, *FIELD_SCOPES, name="commune"),
        "revoked": await mint_key(COMMUNE, *Scope, name="revoked"),
        "unknown": "ioch_" + "x" * 43,
    }
    listed = await client.get("/api/v1/keys", params={"limit": 100}, headers=bearer(keys["admin"]))
    revoked_id = next(k["id"] for k in listed.json()["items"] if k["name"] == "revoked")
    gone = await client.delete(f"/api/v1/keys/{revoked_id}", headers=bearer(keys["admin"]))
    assert gone.status_code in (200, 204), gone.text
    # Something to find on the read routes: one row, pushed by the commune.
    pushed = await client.post(
        "/api/v1/observations",
        json={"observations": [{"indicator": DAILY, "value": 3, "period": DAY}]},
        headers=bearer(keys["commune"]),
    )
    assert pushed.status_code == 200, pushed.text
    return keys


async def call(
    client: httpx.AsyncClient, live_url: str, request: Request, token: str | None
) -> int:
    method, path, kwargs = request
    headers = {**kwargs.pop("headers", {}), **(bearer(token) if token else {})}
    if path == "/api/v1/stream":
        # In-process transports wait for the whole body, which an event stream never ends:
        # over real HTTP the status arrives with the headers, and the stream is then dropped.
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=10) as http,
            http.stream(method, path, headers=headers, **kwargs) as answer,
        ):
            return answer.status_code
    return (await client.request(method, path, headers=headers, **kwargs)).status_code


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
async def test_access(
    route: tuple[str, str], client: httpx.AsyncClient, live_url: str, tokens: dict[str, str]
) -> None:
    row = MATRIX[route]
    ctx = Ctx(client, tokens)
    got = {}
    for caller in CALLERS:
        request = await row.build(ctx)
        got[caller] = await call(client, live_url, request, tokens.get(caller))
    assert got == row.expected, f"{route}: got {got}"


async def test_outside_area_push_names_the_area(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """The matrix's 422 for another district's push is an area refusal, row by row."""
    rows = [{"unit": COMMUNE, "indicator": DAILY, "value": 4, "period": DAY}]
    answer = await client.post(
        "/api/v1/observations",
        json={"observations": rows},
        headers=bearer(tokens["other_district"]),
    )
    assert answer.status_code == 422, answer.text
    reasons = [e["reason"] for e in answer.json()["errors"]]
    assert len(reasons) == 1
    assert "area" in reasons[0], reasons
