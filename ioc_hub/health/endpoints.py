import asyncio

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from ioc_hub import __version__
from ioc_hub.migrate import current_and_head

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=[__version__])


class Readiness(BaseModel):
    ready: bool = Field(examples=[True])
    database: str = Field(examples=["ok"], description="ok, or why the database cannot be used")
    migration: str | None = Field(examples=["20261128_0001"], description="Applied revision")
    head: str | None = Field(examples=["20261128_0001"], description="Revision the code expects")


@router.get("/health", summary="Liveness", operation_id="health")
async def health() -> Health:
    """The process is alive; says nothing about the database."""
    return Health(status="ok", version=__version__)


@router.get(
    "/ready",
    summary="Readiness",
    operation_id="ready",
    responses={503: {"model": Readiness, "description": "Database unreachable or not migrated"}},
)
async def ready(request: Request, response: Response) -> Readiness:
    """The database answers and its schema is at the migration head; 503 otherwise."""
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(settings.db_timeout_seconds):
            async with request.app.state.engine.connect() as connection:
                current, head = await connection.run_sync(current_and_head)
    except Exception as exc:  # any failure to reach the database means "not ready"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(
            ready=False,
            database=f"unreachable: {exc.__class__.__name__}",
            migration=None,
            head=None,
        )
    ok = current == head
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(
        ready=ok,
        database="ok" if ok else "migrations not at head; run `ioc-hub migrate`",
        migration=current,
        head=head,
    )
