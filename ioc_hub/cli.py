"""The ``ioc-hub`` command: serve, migrate, recount, seed, reorganise, keys, partitions, openapi,
simulate, upload, webhook-receiver."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ioc_hub.config import Settings
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.errors import HubError
from ioc_hub.registry.reorganise import Builtin
from ioc_hub.registry.seed import DEFAULT_DEPARTMENTS
from ioc_hub.seed import RegistryName
from ioc_hub.simulate.scenario import Scenario

if TYPE_CHECKING:
    from ioc_hub.simulate.runner import Options, Summary

T = TypeVar("T")

app = typer.Typer(help="ioc-hub: the data hub of a provincial IOC.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke access keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
partitions_app = typer.Typer(
    help="Observations' yearly partitions (PostgreSQL): list, detach a year to archive it.",
    no_args_is_help=True,
)
app.add_typer(partitions_app, name="partitions")
err = Console(stderr=True)

SHUTDOWN_GRACE_SECONDS = 10


def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction against the configured database."""

    async def run() -> T:
        engine = create_engine(Settings())
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Upgrade the database schema (Alembic) to the latest revision."""
    from ioc_hub.migrate import upgrade

    upgrade(Settings(), revision)
    err.print(f"[green]database at {revision}[/green]")


@app.command()
def recount() -> None:
    """Count again the months completeness keeps whose grace has changed since (an indicator's
    grace_seconds or an IOC_HUB_GRACE_* setting), so that it reads them instead of their
    observations."""
    from ioc_hub.ingest.repository.months import recount_regraced

    settings = Settings()
    counted = _in_session(lambda session: recount_regraced(session, settings))
    err.print(f"[green]{counted} months counted again[/green]")


@app.command()
def seed(
    registry: Annotated[
        RegistryName,
        typer.Option(
            help="binh-duong: the province's demo registry; vietnam-2025: the nation, its 34 "
            "provinces and 3,321 communes, with synthetic departments"
        ),
    ] = RegistryName.BINH_DUONG,
    departments: Annotated[
        int,
        typer.Option(
            min=0,
            max=200,
            help="With vietnam-2025: synthetic departments per province (made up, modelled on "
            "Bình Dương's)",
        ),
    ] = DEFAULT_DEPARTMENTS,
) -> None:
    """Load a registry and the indicator catalogue (idempotent: a second run changes nothing)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ioc_hub.migrate import upgrade
    from ioc_hub.seed import seed_all, units_to_seed

    if registry is RegistryName.BINH_DUONG and departments != DEFAULT_DEPARTMENTS:
        raise typer.BadParameter(
            "applies to --registry vietnam-2025 only", param_hint="--departments"
        )
    upgrade(Settings())
    progress = Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
    with progress:
        task = progress.add_task(f"{registry} units", total=units_to_seed(registry, departments))
        try:
            report = _in_session(
                lambda session: seed_all(
                    session, registry, departments, lambda n: progress.advance(task, n)
                )
            )
        except HubError as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc
    for line in report:
        err.print(line)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema before serving")
    ] = True,
) -> None:
    """Run the HTTP API (upgrading the schema to head first)."""
    import uvicorn

    from ioc_hub.migrate import upgrade

    settings = Settings()
    if migrate_first:
        upgrade(settings)
    uvicorn.run(
        "ioc_hub.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
        # Event streams (GET /api/v1/stream) never end by themselves: on shutdown, give other
        # requests time to finish, then close them.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the schema")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document generated from the app."""
    from ioc_hub.openapi import render

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(), encoding="utf-8")
    err.print(f"wrote {output}")


@keys_app.command("create")
def keys_create(
    unit: Annotated[str, typer.Option(help="Code of the unit the key acts for")],
    scope: Annotated[list[str], typer.Option(help="A scope; repeat for several")],
    name: Annotated[str, typer.Option(help="A label for operators")] = "",
) -> None:
    """Mint a key and print only its token on stdout (so scripts can capture it)."""
    from ioc_hub.access import service
    from ioc_hub.models import Scope
    from ioc_hub.registry import service as registry

    try:
        scopes = [Scope(s) for s in scope]
    except ValueError as exc:
        raise typer.BadParameter(
            f"{exc}; known scopes: {', '.join(s.value for s in Scope)}", param_hint="--scope"
        ) from exc

    async def work(session: AsyncSession) -> str:
        target = await registry.find_unit(session, unit)
        if target is None:
            raise typer.BadParameter(f"unit {unit!r} does not exist", param_hint="--unit")
        return (await service.mint_key(session, target, scopes, name)).token

    typer.echo(_in_session(work))


@app.command()
def reorganise(
    file: Annotated[
        Path | None, typer.Argument(help="A reorganisation event (JSON, docs/design.md §8)")
    ] = None,
    builtin: Annotated[
        Builtin | None, typer.Option(help="A shipped event instead of a file")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Validate and count; apply nothing")] = False,
) -> None:
    """Apply a reorganisation of the map: units end, start and change on its day, linked by
    lineage."""
    from pydantic import ValidationError

    from ioc_hub.registry import reorganise as service
    from ioc_hub.registry.schemas import ReorganisationIn

    if (file is None) == (builtin is None):
        raise typer.BadParameter("give a FILE or --builtin NAME (one of them)")
    try:
        event = None if file is None else ReorganisationIn.model_validate_json(file.read_bytes())
    except (OSError, ValidationError) as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc

    async def work(session: AsyncSession) -> dict[str, object]:
        chosen = await service.builtin(session, builtin) if builtin is not None else event
        assert chosen is not None  # a file or --builtin, checked above
        out = await service.apply(session, chosen, dry_run=dry_run)
        return out.model_dump(mode="json")

    try:
        summary = _in_session(work)
    except HubError as exc:
        where = f" ({exc.errors[0].field})" if exc.errors else ""
        err.print(f"[red]{exc.detail}{where}[/red]")
        raise typer.Exit(1) from exc
    verb = "would change" if dry_run else "applied"
    err.print(
        f"{summary['name']} on {summary['effective']}: {verb}: {summary['ended']} units end, "
        f"{summary['started']} start, {summary['versions']} new versions, {summary['edges']} "
        f"lineage edges ({summary['approximate_edges']} of unknown share), "
        f"{summary['obligations_handed']} obligations handed on"
    )


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option(help="Also list revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """List keys (never their tokens)."""
    from ioc_hub.access import service
    from ioc_hub.kit.pagination import PageParams

    async def work(session: AsyncSession) -> list[dict[str, object]]:
        page = await service.list_keys(
            session, None, PageParams(limit=1_000_000, offset=0), include_revoked=include_revoked
        )
        return [k.model_dump(mode="json") for k in page.items]

    keys = _in_session(work)
    if as_json:
        typer.echo(json.dumps(keys, ensure_ascii=False, indent=2))
        return
    table = Table("id", "unit", "name", "prefix", "scopes", "created", "revoked")
    for k in keys:
        table.add_row(
            str(k["id"]),
            str(k["unit"]),
            str(k["name"]),
            str(k["prefix"]),
            " ".join(map(str, k["scopes"])),  # type: ignore[call-overload]
            str(k["created_at"]),
            str(k["revoked_at"] or ""),
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Id shown by `keys list`")]) -> None:
    """Revoke a key at once."""
    from datetime import UTC, datetime

    from ioc_hub.access import service

    async def work(session: AsyncSession) -> None:
        await service.revoke_key(session, None, key_id, datetime.now(UTC))

    try:
        _in_session(work)
    except HubError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"key {key_id} revoked")


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on the configured database; a HubError ends the command."""

    async def run() -> T:
        engine = create_engine(Settings())
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except HubError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc


@partitions_app.command("list")
def partitions_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """List observations' partitions: year, estimated rows, size on disk."""
    from dataclasses import asdict

    from ioc_hub.partitions import service

    partitions = _with_engine(service.list_partitions)
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in partitions], indent=2))
        return
    table = Table("partition", "year", "rows (estimate)", "size")
    for p in partitions:
        rows = "?" if p.rows is None else f"{p.rows:,}"
        year = "other years" if p.year is None else str(p.year)
        table.add_row(p.name, year, rows, f"{p.bytes / 2**20:,.1f} MiB")
    Console().print(table)


@partitions_app.command("detach")
def partitions_detach(
    year: Annotated[int, typer.Argument(help="The year to detach, before the current one")],
) -> None:
    """Detach a year's partition: its observations leave every read and stay in a plain table
    of the same name, to pg_dump and then drop."""
    from datetime import UTC, datetime

    from ioc_hub.partitions import service

    today = datetime.now(UTC).date()
    name = _with_engine(lambda engine: service.detach(engine, year, today))
    err.print(
        f"[green]{name} detached[/green]: archive it with `pg_dump --table={name}`, "
        f"then `DROP TABLE {name}`"
    )


# The base URL the reform scenario's requests carry: they reach the app in the same process.
IN_PROCESS_URL = "http://ioc-hub.in-process"


async def _play_reform(options: "Options") -> "Summary":
    """The reform scenario against the hub's app in this process, on the configured database
    (migrated first, as ``serve`` does)."""
    from ioc_hub.migrate import upgrade
    from ioc_hub.simulate.reform import hub_in_process, simulate_reform

    settings = Settings()
    await asyncio.to_thread(upgrade, settings)
    async with hub_in_process(settings) as (transport, move_clock):
        return await simulate_reform(options, err, transport, move_clock)


@app.command()
def simulate(
    admin_key: Annotated[
        str,
        typer.Option(
            envvar="IOC_HUB_ADMIN_KEY",
            help="A province key with keys:admin and observations:write (to hand out), "
            "observations:import for --backfill, coverage:read for the coverage table, "
            "registry:write for --scenario reform",
            show_default=False,
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of the running hub [default: http://127.0.0.1:8000]; not with "
            "--scenario reform, which runs the hub in this process",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="article: everyone but 1 department and 2 vertical agencies reports (the "
            "article's 17/18, 4/6); healthy: everyone; degraded: a fifth silent, a fifth late; "
            "reform: the article's province from 2025-06-01 to 2025-07-31, through the "
            "1 July 2025 reorganisation, on the database of IOC_HUB_DATABASE_URL"
        ),
    ] = Scenario.ARTICLE,
    backfill: Annotated[
        int,
        typer.Option(
            "--backfill",
            "--backfill-days",
            min=0,
            max=3660,
            metavar="DAYS",
            help="Days of history to import (POST /api/v1/imports), each value stamped with "
            "when it would have arrived",
        ),
    ] = 0,
    indicators: Annotated[
        str | None,
        typer.Option(
            metavar="CODE,CODE",
            help="Only these indicators' series (default: every obliged indicator)",
            show_default=False,
        ),
    ] = None,
    import_only: Annotated[
        bool,
        typer.Option(
            help="With --backfill: import the history and stop (no unit keys, pushes or "
            "heartbeats), e.g. a year of the national registry"
        ),
    ] = False,
    registry: Annotated[
        RegistryName | None,
        typer.Option(
            help="Refuse to run unless the hub holds this registry (as `ioc-hub seed "
            "--registry` loads it)",
            show_default=False,
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option(help="Keep pushing as values fall due, with heartbeats in between")
    ] = False,
    speed: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="With --live: time compression (3600 = an hour a second); the run starts "
            "duration × speed (at most 2 days) in the past and catches up with real time",
        ),
    ] = 1.0,
    duration: Annotated[
        float | None,
        typer.Option(min=0.0, help="With --live: stop after this many seconds (default: Ctrl-C)"),
    ] = None,
    late: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Fraction of values sent after their deadline"),
    ] = None,
    missing: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Fraction of values never sent")
    ] = None,
    duplicate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Fraction of values sent twice")
    ] = None,
    out_of_range: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Fraction of values outside the valid range"),
    ] = None,
    malformed: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fraction of rows malformed (a text value, a time without zone, a bad period)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every value and fault")] = 1,
    timezone: Annotated[
        str, typer.Option(envvar="IOC_HUB_TIMEZONE", help="The hub's province time zone")
    ] = "Asia/Ho_Chi_Minh",
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Requests in flight at once")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Most rows per request")] = 1000,
    keep_keys: Annotated[
        bool, typer.Option(help="Keep the minted unit keys instead of revoking them at the end")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON instead of tables")
    ] = False,
) -> None:
    """Play every unit of the registry against a running hub, over HTTP.

    Fault rates left out take the scenario's defaults.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ioc_hub.simulate.client import SimulationError
    from ioc_hub.simulate.runner import Options, render
    from ioc_hub.simulate.runner import simulate as run
    from ioc_hub.simulate.scenario import SCENARIO_FAULTS

    if not live and (speed != 1.0 or duration is not None):
        raise typer.BadParameter("--speed and --duration apply to --live runs only")
    if import_only and (live or not backfill):
        raise typer.BadParameter(
            "an import-only run imports --backfill DAYS of history: give --backfill, not --live",
            param_hint="--import-only",
        )
    chosen = None
    if indicators is not None:
        chosen = frozenset(code.strip() for code in indicators.split(",") if code.strip())
        if not chosen:
            raise typer.BadParameter("name at least one indicator code", param_hint="--indicators")
    reform = scenario is Scenario.REFORM
    if reform and (url is not None or live or backfill):
        # The reform happens in 2025 on the hub's clock, which a serving hub keeps real.
        raise typer.BadParameter(
            "--scenario reform plays its own span (2025-06-01 to 2025-07-31) against the hub "
            "in this process, on IOC_HUB_DATABASE_URL: leave out --url, --live and --backfill",
            param_hint="--scenario",
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise typer.BadParameter(
            f"unknown time zone {timezone!r}", param_hint="--timezone"
        ) from exc
    try:
        faults = SCENARIO_FAULTS[scenario].override(
            late=late,
            missing=missing,
            duplicate=duplicate,
            out_of_range=out_of_range,
            malformed=malformed,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out-of-range/--malformed") from exc
    options = Options(
        url=IN_PROCESS_URL if reform else url or "http://127.0.0.1:8000",
        admin_key=admin_key,
        scenario=scenario,
        seed=seed,
        backfill_days=backfill,
        live=live,
        speed=speed,
        duration=duration,
        faults=faults,
        timezone=timezone,
        concurrency=concurrency,
        batch_size=batch_size,
        keep_keys=keep_keys,
        indicators=chosen,
        import_only=import_only,
        registry=registry,
    )
    try:
        summary = asyncio.run(_play_reform(options) if reform else run(options, err))
    except SimulationError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(summary.as_json(), ensure_ascii=False, indent=2))
    else:
        render(summary, Console())


@app.command()
def upload(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The filled form, .xlsx or .csv"
        ),
    ],
    key: Annotated[
        str,
        typer.Option(
            envvar="IOC_HUB_KEY",
            help="A key with observations:write covering the form's unit",
            show_default=False,
        ),
    ],
    unit: Annotated[
        str | None,
        typer.Option(help="Unit of the rows that name none (default: the key's unit)"),
    ] = None,
    url: Annotated[str, typer.Option(help="Base URL of the running hub")] = "http://127.0.0.1:8000",
    atomic: Annotated[
        bool, typer.Option(help="Store every row or none: one refused row refuses the file")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hub's answer as JSON")] = False,
) -> None:
    """Upload a filled reporting form (from GET /api/v1/templates/{unit}) and print the import
    summary: what was created, updated, unchanged, and each refused row's cell and reason."""
    import httpx

    try:
        response = httpx.post(
            f"{url.rstrip('/')}/api/v1/uploads",
            params={"atomic": "true"} if atomic else None,
            files={"file": (file.name, file.read_bytes())},
            data={"unit": unit} if unit else None,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        err.print(f"[red]no answer from {url}: {exc}[/red]")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    summary = answer if response.status_code == 200 else answer.get("summary")
    if not as_json and summary is not None:
        counts = ("created", "updated", "unchanged", "superseded", "rejected")
        typer.echo(", ".join(f"{name} {summary[name]}" for name in counts))
        for error in summary["errors"]:
            typer.echo(error["reason"])
    if response.status_code != 200:
        err.print(f"[red]HTTP {response.status_code}: {answer.get('detail', '')}[/red]")
        raise typer.Exit(1)


@app.command("webhook-receiver")
def webhook_receiver(
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="IOC_HUB_WEBHOOK_SECRET",
            help="The webhook's signing secret (whsec_…), shown when it was registered",
            show_default=False,
        ),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            help="Or a file holding it, read once it exists: start the receiver, then register "
            "the webhook and write its secret there (503 until then)",
            show_default=False,
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    fail_first: Annotated[
        int, typer.Option(min=0, help="Answer 500 to this many attempts of each notification")
    ] = 0,
    status: Annotated[
        int, typer.Option(min=200, max=599, help="The answer to a verified notification")
    ] = 204,
    delay: Annotated[float, typer.Option(min=0.0, help="Seconds to wait before answering")] = 0.0,
) -> None:
    """Receive webhooks: verify each signature (Standard Webhooks) and print every verified
    notification as a JSON line on stdout."""
    from ioc_hub.webhooks.receiver import Receiver, run

    source: str | Path
    if secret is not None and secret_file is None:
        source = secret
    elif secret_file is not None and secret is None:
        source = secret_file
    else:
        raise typer.BadParameter(
            "give --secret or --secret-file, one of them", param_hint="--secret"
        )
    try:
        receiver = Receiver(source, fail_first=fail_first, status=status, delay=delay)
    except Exception as exc:  # the library's own errors for an empty or undecodable secret
        raise typer.BadParameter(f"not a signing secret: {exc}", param_hint="--secret") from exc
    err.print(f"verifying webhooks on http://{host}:{port}/")
    run(receiver, host, port)
