"""The emulator's side of the hub's HTTP API: the calls a real sender and an admin would make."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
import orjson

PAGE_LIMIT = 1000
# Worth another try: the hub is restarting, or its database answered 503 "retry".
RETRY_STATUSES = frozenset({502, 503, 504})


class SimulationError(Exception):
    """Something the user has to fix (URL, key, scopes, a hub without an endpoint)."""


@dataclass
class PushOutcome:
    """What the hub made of one batch: its import summary, or why the request failed."""

    rows: int
    status: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged + self.superseded

    @property
    def failed(self) -> bool:
        """The request itself failed: its rows were neither stored nor rejected one by one."""
        return self.problem is not None


def _summary_outcome(rows: int, status: int, summary: dict[str, Any]) -> PushOutcome:
    return PushOutcome(
        rows=rows,
        status=status,
        created=int(summary.get("created", 0)),
        updated=int(summary.get("updated", 0)),
        unchanged=int(summary.get("unchanged", 0)),
        superseded=int(summary.get("superseded", 0)),
        rejected=int(summary.get("rejected", 0)),
        reasons=[str(e.get("reason", "")) for e in summary.get("errors", [])],
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and "detail" in body:
        return f"HTTP {response.status_code}: {body['detail']}"
    return f"HTTP {response.status_code}"


class HubClient:
    """An httpx client bound to one hub; every call is retried on transient failures."""

    def __init__(
        self,
        url: str,
        admin_key: str,
        *,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.retries = retries
        self.requests = 0
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max(4, concurrency * 2)),
            transport=transport,
        )

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: object = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        content: bytes | None = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        # Resending a push is harmless: the same values again come back "unchanged".
        for attempt in range(self.retries + 1):
            self.requests += 1
            try:
                response = await self._http.request(
                    method, path, content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise SimulationError(f"cannot reach the hub at {self.url}: {exc!r}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                    return response
            await asyncio.sleep(0.25 * 2**attempt)
        raise AssertionError("unreachable")

    async def _admin_json(
        self, method: str, path: str, *, body: object = None, params: dict[str, Any] | None = None
    ) -> Any:
        response = await self._request(method, path, self.admin_key, body=body, params=params)
        if response.status_code == 401:
            raise SimulationError(f"the hub refused the admin key ({_detail(response)})")
        if response.status_code == 403:
            raise SimulationError(f"{method} {path}: the admin key may not ({_detail(response)})")
        if response.status_code >= 400:
            raise SimulationError(f"{method} {path} failed: {_detail(response)}")
        return response.json()

    async def check(self) -> None:
        """Fail early, with a clear message, when nothing answers at the URL."""
        self.requests += 1
        try:
            response = await self._http.get("/health")
        except httpx.TransportError as exc:
            raise SimulationError(f"cannot reach the hub at {self.url}: {exc!r}") from exc
        if response.status_code != 200:
            raise SimulationError(f"{self.url}/health answered {response.status_code}")

    async def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a paginated list endpoint."""
        items: list[Any] = []
        while True:
            page = await self._admin_json(
                "GET", path, params={**(params or {}), "limit": PAGE_LIMIT, "offset": len(items)}
            )
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    async def create_key(self, unit: str, scopes: Sequence[str], name: str) -> tuple[int, str]:
        """Mint a key for ``unit``; returns its id and its token (shown only this once)."""
        body = {"unit": unit, "scopes": list(scopes), "name": name}
        response = await self._request("POST", "/api/v1/keys", self.admin_key, body=body)
        if response.status_code == 403:
            raise SimulationError(
                f"the admin key cannot mint the units' keys ({_detail(response)}); it needs "
                f"keys:admin and {', '.join(scopes)}, on a province-level key"
            )
        if response.status_code != 201:
            raise SimulationError(f"POST /api/v1/keys failed: {_detail(response)}")
        created = response.json()
        return int(created["id"]), str(created["token"])

    async def reorganisations(self) -> list[dict[str, Any]]:
        """The reorganisations the hub has applied, oldest first."""
        applied: list[dict[str, Any]] = await self._admin_json("GET", "/api/v1/reorganisations")
        return applied

    async def builtin_reorganisation(self, name: str) -> dict[str, Any]:
        """A shipped reorganisation as the event ``POST /api/v1/reorganisations`` takes."""
        event: dict[str, Any] = await self._admin_json(
            "GET", f"/api/v1/reorganisations/builtin/{name}"
        )
        return event

    async def reorganise(self, event: dict[str, Any]) -> dict[str, Any]:
        """Apply a reorganisation (needs ``registry:write`` on a province key)."""
        applied: dict[str, Any] = await self._admin_json(
            "POST", "/api/v1/reorganisations", body=event
        )
        return applied

    async def revoke_key(self, key_id: int) -> None:
        await self._admin_json("DELETE", f"/api/v1/keys/{key_id}")

    async def push(self, token: str, rows: Sequence[dict[str, Any]]) -> list[PushOutcome]:
        """Push rows as the key's unit (``POST /api/v1/observations``)."""
        return await self._send("/api/v1/observations", token, rows)

    async def import_rows(self, rows: Sequence[dict[str, Any]]) -> list[PushOutcome]:
        """Backfill rows that carry their own ``received_at`` (``POST /api/v1/imports``)."""
        return await self._send("/api/v1/imports", self.admin_key, rows)

    async def _send(
        self, path: str, token: str, rows: Sequence[dict[str, Any]]
    ) -> list[PushOutcome]:
        response = await self._request("POST", path, token, body={"observations": list(rows)})
        status = response.status_code
        if status == 413 and len(rows) > 1:
            # The hub takes smaller batches than we send: halve until it fits.
            half = len(rows) // 2
            return [
                *await self._send(path, token, rows[:half]),
                *await self._send(path, token, rows[half:]),
            ]
        if path.endswith("/imports"):
            if status in (404, 405):
                raise SimulationError(
                    f"this hub has no POST {path}: it cannot backfill history; "
                    "run without --backfill"
                )
            if status in (401, 403):
                raise SimulationError(
                    f"the admin key cannot import history ({_detail(response)}); it needs "
                    "scope observations:import on a province-level key"
                )
        if status in (200, 422):
            # A 422 carries the import summary when every row was rejected one by one.
            body = response.json()
            if status == 200 or (isinstance(body, dict) and "summary" in body):
                return [_summary_outcome(len(rows), status, body.get("summary", body))]
        return [PushOutcome(rows=len(rows), status=status, problem=_detail(response))]

    async def heartbeat(self, token: str) -> bool:
        response = await self._request("POST", "/api/v1/heartbeat", token, body={})
        return response.status_code == 200

    async def coverage(self, at: datetime | None = None) -> dict[str, Any] | None:
        """``GET /api/v1/coverage`` (as of ``at`` when given) with the admin key; ``None`` when
        the hub has no such endpoint."""
        params: dict[str, Any] = {"limit": 1}
        if at is not None:
            params["at"] = at.isoformat()
        response = await self._request("GET", "/api/v1/coverage", self.admin_key, params=params)
        if response.status_code == 404:  # no filters were given: only the route can be missing
            return None
        if response.status_code == 403:
            raise SimulationError("the admin key lacks coverage:read")
        if response.status_code != 200:
            raise SimulationError(f"GET /api/v1/coverage failed: {_detail(response)}")
        result: dict[str, Any] = response.json()
        return result
