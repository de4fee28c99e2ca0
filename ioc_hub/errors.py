"""Domain errors that carry their HTTP status, and the handlers that render every error as
RFC 9457 problem details (``application/problem+json``)."""

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ioc_hub.kit.params import PATTERN_REASONS
from ioc_hub.kit.periods import PeriodError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# PostgreSQL's "try again": serialization failure and deadlock victim.
_TRANSIENT_SQLSTATES = {"40001", "40P01"}
# SQLSTATE classes of a database that cannot serve now: connection exception (08), insufficient
# resources (53), operator intervention — shutting down, starting up, query cancelled (57).
_UNAVAILABLE_CLASSES = {"08", "53", "57"}
# A value from the request the database cannot take: text holding NUL (22021) or characters
# outside its encoding (22P05); a parameter the driver cannot encode, e.g. an integer beyond
# 64 bits (22000).
_UNSTORABLE_SQLSTATES = {"22000", "22021", "22P05"}


class FieldError(BaseModel):
    """One reason a request was refused, tied to the field it concerns."""

    field: str = Field(examples=["body.observations.3.value"])
    reason: str = Field(examples=["value 140 above max 100"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", examples=["https://ioc-hub.dev/problems/not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["unit '99999' does not exist"])
    errors: list[FieldError] = Field(default_factory=list)


def problem_doc(description: str, model: type[Problem] | None = None) -> dict[str, Any]:
    """A ``responses`` entry for an answer rendered as problem details (``model``, a subclass
    of :class:`Problem`, when it says more). FastAPI documents the model (and so publishes its
    schema) under ``application/json``; the hub sends ``application/problem+json``, so the
    entry names that media type too."""
    model = model or Problem
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "model": model,
        "description": description,
        "content": {PROBLEM_JSON: {"schema": schema}},
    }


HUB_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: problem_doc("Invalid request: the `errors` name each field and why"),
    503: problem_doc("Database unavailable; retry"),
}
"""What any route may answer: a request that fails validation, a database that cannot serve."""

BODY_LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: problem_doc("The body is larger than the hub takes (`max_body_bytes`)"),
}
"""What a route that takes a body may answer before reading it (``kit.limits.BodySizeLimit``)."""


class HubError(Exception):
    """Base of every error the hub raises on purpose; subclasses set the status and title."""

    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self, detail: str, *, field: str | None = None, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        if field is not None:
            self.errors.insert(0, FieldError(field=field, reason=detail))
        self.headers: dict[str, str] = {}

    def problem(self) -> Problem:
        return Problem(
            type=f"https://ioc-hub.dev/problems/{self.slug}",
            title=self.title,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )


class Invalid(HubError):
    status, title, slug = 422, "Invalid request", "invalid"


class NotFound(HubError):
    status, title, slug = 404, "Not found", "not-found"


def no_such(detail: str, *, field: str) -> HubError:
    """Something the request names does not exist. Named by the path or a query filter, it is
    what the request is about: 404. Named in the body, the target is there and the content
    refers to nothing: 422, as any other invalid field (RFC 9110 §15.5.21)."""
    if field.startswith("body."):
        return Invalid(detail, field=field)
    return NotFound(detail, field=field)


class Conflict(HubError):
    status, title, slug = 409, "Conflict", "conflict"


class Unauthenticated(HubError):
    status, title, slug = 401, "Unauthenticated", "unauthenticated"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(HubError):
    status, title, slug = 403, "Forbidden", "forbidden"


class PayloadTooLarge(HubError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class Unavailable(HubError):
    status, title, slug = 503, "Service unavailable", "unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json"),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_reason(error: dict[str, Any]) -> str:
    if error.get("type") == "string_pattern_mismatch":
        reason = PATTERN_REASONS.get(error.get("ctx", {}).get("pattern", ""))
        if reason is not None:
            return reason
    message = str(error.get("msg", "invalid"))
    # pydantic prefixes custom errors with "Value error, "; the reason reads better without it.
    return message.removeprefix("Value error, ")


def _field_error(error: dict[str, Any]) -> FieldError:
    loc = error.get("loc", ())
    if error.get("type") == "json_invalid":
        # FastAPI locates a JSON syntax error as ("body", <character offset>): the field is the
        # body itself, and the offset belongs in the reason.
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        cause = error.get("ctx", {}).get("error", "malformed")
        return FieldError(field="body", reason=f"the body is not valid JSON: {cause}{where}")
    return FieldError(field=_field_path(loc), reason=_validation_reason(error))


def _unreadable_body(cause: BaseException | None) -> Invalid:
    """FastAPI's one 400: a JSON body it could not decode at all, ``cause`` saying why."""
    if isinstance(cause, UnicodeDecodeError):
        reason = f"the body is not UTF-8: byte {cause.start} cannot be decoded"
    elif isinstance(cause, RecursionError):
        reason = "the body is nested too deeply to be read"
    else:
        reason = "the body cannot be read as JSON"
    return Invalid(reason, field="body")


def _allowed_methods(request: Request) -> str:
    """Every method the request's path answers to. The router's 405 names only those of the
    first route with that path, and each route here has one method."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches({**request.scope, "method": ""})
        if match is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure as problem details; never leak a traceback to the client."""

    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc.problem(), exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(err) for err in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5]) or "invalid request"
        return problem_response(
            Invalid(detail, errors=errors).problem(),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        headers = dict(exc.headers or {})
        if exc.status_code == 413:  # the body limit, tripped mid-stream: as its other refusals
            problem = PayloadTooLarge(str(exc.detail)).problem()
        elif exc.status_code == 400 and "multipart/" in request.headers.get("content-type", ""):
            # Starlette's form parser says what is wrong with a multipart body (an upload's).
            reason = f"the body is not readable multipart/form-data: {exc.detail}"
            problem = Invalid(reason, field="body").problem()
        elif exc.status_code == 400:
            # Malformed bodies are 422 with the field path, whatever part of decoding failed.
            problem = _unreadable_body(exc.__cause__).problem()
        else:
            title = titles.get(exc.status_code, "HTTP error")
            problem = Problem(title=title, status=exc.status_code, detail=str(exc.detail))
            if exc.status_code == 405:
                headers["Allow"] = _allowed_methods(request)
        return problem_response(problem, headers)

    @app.exception_handler(PeriodError)
    async def _period_error(_: Request, exc: PeriodError) -> JSONResponse:
        # Features turn a bad period into a 422 naming its field; this catches arithmetic
        # that runs off the supported years (…9999) on a period the request named.
        return problem_response(Invalid(str(exc)).problem())

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    # The asyncpg adapter lets these through unwrapped: a refused or reset connect, and the
    # connect and command timeouts.
    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %r", getattr(exc, "orig", None) or exc)
        err = Unavailable("the database is unavailable; retry shortly")
        return problem_response(err.problem(), err.headers)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return await _by_sqlstate(request, exc, sqlstate, invalidated=exc.connection_invalidated)

    # An error asyncpg raises itself, unwrapped by SQLAlchemy, means what the same error wrapped
    # does.
    @app.exception_handler(asyncpg.PostgresError)
    async def _driver_error(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
        return await _by_sqlstate(request, exc, str(exc.sqlstate or ""), invalidated=False)

    # The connection closed under a query, or the server ended it while it was idle (the next
    # statement then finds the protocol mid-way: "cannot switch to state …").
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    async def _driver_interface_error(request: Request, exc: Exception) -> JSONResponse:
        return await _database_down(request, exc)

    async def _by_sqlstate(
        request: Request, exc: Exception, sqlstate: str, *, invalidated: bool
    ) -> JSONResponse:
        if invalidated or sqlstate[:2] in _UNAVAILABLE_CLASSES:
            # The server shut down, restarted or cut the connection under this request.
            return await _database_down(request, exc)
        if sqlstate in _UNSTORABLE_SQLSTATES:
            log.info("refused a value the database cannot take: %s", getattr(exc, "orig", exc))
            unstorable = Invalid(
                "a value in the request cannot be stored or compared: text must not contain "
                "NUL (\\u0000) characters and integers must fit in 64 bits"
            )
            return problem_response(unstorable.problem())
        if sqlstate in _TRANSIENT_SQLSTATES:
            # A deadlock victim or serialization failure: nothing was stored; a retry succeeds.
            log.warning("transaction collided with a concurrent one: %s", getattr(exc, "orig", exc))
            err = Unavailable("the request collided with a concurrent one; retry", retry_after=1)
            return problem_response(err.problem(), err.headers)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            Problem(title="Internal error", status=500, detail="internal error"),
        )
