"""The operator dashboard: a static page (HTML, CSS and vanilla JavaScript, no build step, no
CDN) that asks for an operator key, calls the coverage, staleness, rejections and alerts
endpoints with it and follows ``GET /api/v1/stream``. The hub only serves the files: no key is
needed to load them, and everything they show comes from the API under the key the operator
enters. The hub's root, ``GET /``, is a page of links to it, the API documentation and the
open-data catalogue."""

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from ioc_hub.errors import NotFound

router = APIRouter(tags=["dashboard"])

STATIC = Path(__file__).parent / "static"

# The only files served: a name outside this list is a 404, never a path on disk.
MEDIA_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "sheets.html": "text/html; charset=utf-8",
    "sheets.js": "text/javascript; charset=utf-8",
}

# The page runs only its own script and talks only to this hub: an injected string can neither
# run code nor send the key elsewhere. `form-action 'none'` keeps the key form from ever
# submitting itself (which would put the key in a URL) if the script failed to load.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap: an ETag), so an upgraded hub never runs a stale script.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    media_type: str


@cache
def asset(name: str) -> Asset:
    """A file of ``static/``, read once per process."""
    body = (STATIC / name).read_bytes()
    return Asset(body, f'"{hashlib.sha256(body).hexdigest()[:16]}"', MEDIA_TYPES[name])


def serve(name: str, if_none_match: str | None) -> Response:
    found = asset(name)
    headers = {**HEADERS, "ETag": found.etag}
    if if_none_match is not None and found.etag in if_none_match:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", include_in_schema=False)]


@router.get(
    "/dashboard",
    summary="Operator dashboard",
    operation_id="dashboard",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "The dashboard page (HTML). It asks for a key with `coverage:read` "
            "and calls the API with it; loading the page itself needs no key",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def dashboard(if_none_match: IfNoneMatch = None) -> Response:
    """Coverage per kind, the alerts, districts and their communes, a staleness heatmap of
    units × indicator groups and the latest rejections, updated live from the event stream."""
    return serve("dashboard.html", if_none_match)


@router.get(
    "/dashboard/sheets",
    summary="Reporting forms page",
    operation_id="sheets_page",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "The forms page (HTML). It asks for a unit's key and calls the API "
            "with it; loading the page itself needs no key",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def sheets_page(if_none_match: IfNoneMatch = None) -> Response:
    """Where a clerk downloads a unit's reporting form and uploads it back filled, seeing the
    import summary with each refused row's cell."""
    return serve("sheets.html", if_none_match)


# The landing page and the assets are not part of the API: left out of the contract.
@router.get("/", include_in_schema=False)
async def home(if_none_match: IfNoneMatch = None) -> Response:
    """Where a person opening the hub's address lands: links to the dashboard, the API
    documentation and the open-data catalogue."""
    return serve("index.html", if_none_match)


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_asset(
    name: Annotated[str, PathParam(max_length=64)], if_none_match: IfNoneMatch = None
) -> Response:
    if name not in MEDIA_TYPES or name.endswith(".html"):  # pages have routes of their own
        raise NotFound(f"no dashboard asset {name!r}")
    return serve(name, if_none_match)
