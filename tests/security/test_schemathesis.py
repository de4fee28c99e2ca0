"""Schemathesis against a real hub process: every operation of the
published OpenAPI, every default check (server errors, status codes, content types, headers and
bodies against the contract, schema-valid requests accepted, schema-violating ones refused, the
Allow header, use after delete...) and every phase, stateful included.

One seeded PostgreSQL database and one hub serve two keys with every scope, a commune's
(``25741``) and then the province admin's (``74``). A run may do anything to the hub but disable
the key it runs with (``schemathesis_hooks.py``): revoking keys and deactivating units are fuzzed
like the rest. The commune runs first, so nothing the admin run does to the commune matters.

``schemathesis.toml`` lists the rules no schema can state, for which 422 is a right answer to a
schema-valid request. Schemathesis runs in the test's temporary directory: its caches and the
Hypothesis database stay out of the repository.

Excluded: ``GET /api/v1/stream`` — Server-Sent Events that never end, so there is no response to
check; ``GET /api/dataValueSets.json`` — the same route as ``GET /api/dataValueSets`` at DHIS2's
``.json`` path, fuzzed there. ``/dashboard/static/{name}`` and ``/`` are not in the schema
(``include_in_schema=False``).
"""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import cli, mint, running_hub

# Small enough that a run as one key takes a few minutes over the sixty-odd operations on 2 cores;
# the timeout only catches a run that hangs, with room for a machine busy with other work.
MAX_EXAMPLES = int(os.environ.get("IOC_HUB_SCHEMATHESIS_EXAMPLES", "25"))
RUN_TIMEOUT = 900.0
HERE = Path(__file__).parent
CONFIG = HERE / "schemathesis.toml"
HOOKS = HERE / "schemathesis_hooks.py"
EXCLUDED_PATHS = ["/api/v1/stream", "/api/dataValueSets.json"]
ALL_SCOPES = [s.value for s in Scope]
KEYS = {"commune": "25741", "admin": "74"}  # in this order, with every scope


async def schemathesis(
    url: str, token: str, key: tuple[int, str], tmp_path: Path, name: str, *filters: str
) -> tuple[int, str, dict[str, Any]]:
    """One run as ``token``, whose key id and unit ``key`` it must not disable; its exit code,
    output and JSON report."""
    report = tmp_path / f"{name}.json"
    args = [
        *("--config-file", str(CONFIG)),
        *("run", f"{url}/openapi.json"),
        *("--header", f"Authorization: Bearer {token}"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--max-examples", str(MAX_EXAMPLES)),
        *(part for path in EXCLUDED_PATHS for part in ("--exclude-path", path)),
        *filters,
        *("--seed", os.environ.get("IOC_HUB_SCHEMATHESIS_SEED", "7")),
        # One worker: with two, Hypothesis's lambda-source lookup (ast.parse in threads) now
        # and then dies inside CPython 3.11 with "AST constructor recursion depth mismatch".
        *("--workers", "1"),
        "--no-shrink",
        *("--generation-database", "none"),
        *("--request-timeout", "30"),
        *("--report", "json", "--report-json-path", str(report)),
        "--continue-on-failure",
        "--no-color",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "IOC_HUB_FUZZ_KEY_ID": str(key[0]),
        "IOC_HUB_FUZZ_UNIT": key[1],
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(RUN_TIMEOUT):
        out, _ = await process.communicate()
    output = out.decode(errors="replace")
    assert process.returncode is not None
    assert await asyncio.to_thread(report.exists), f"schemathesis wrote no report:\n{output}"
    summary = json.loads(await asyncio.to_thread(report.read_bytes))
    return process.returncode, output, summary


def accepted(summary: dict[str, Any], operation: str) -> int:
    """Requests to ``operation`` (``METHOD /path``) the hub answered with a 2xx, all phases."""
    rates = summary["valid_rates"].get(operation, {})
    return sum(phase["accepted"] for phase in rates.values())


def passed(who: str, code: int, output: str, summary: dict[str, Any]) -> tuple[int, int, int]:
    """Checks a run that must find nothing; (operations tested, examples generated, operations
    that got at least one 2xx)."""
    assert code == 0, f"schemathesis as {who} found failures:\n{output}"
    operations, cases = summary["operations"], summary["test_cases"]
    assert summary["failures"] == [], summary["failures"]
    assert summary["errors"] == [], summary["errors"]
    assert operations["errored"] == 0
    assert operations["tested"] == operations["selected"]
    assert cases["with_failures"] == 0
    assert all(phase["status"] == "success" for phase in summary["phases"].values()), output
    reached = sum(1 for operation in summary["valid_rates"] if accepted(summary, operation))
    return operations["tested"], cases["generated"], reached


async def key_ids(url: str, token: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=url) as http:
        keys = await http.get("/api/v1/keys", headers={"Authorization": f"Bearer {token}"})
    assert keys.status_code == 200, keys.text
    return {key["unit"]: key["id"] for key in keys.json()["items"]}


@pytest.mark.slow
async def test_schemathesis_every_operation_every_check(tmp_path: Path) -> None:
    url = await create_database("postgresql", tmp_path)
    tried: list[str] = []
    try:
        await cli(url, "seed")
        tokens = {who: await mint(url, unit, *ALL_SCOPES) for who, unit in KEYS.items()}
        async with running_hub(url, tmp_path / "hub.log") as hub:
            ids = await key_ids(hub.url, tokens["admin"])
            for who, unit in KEYS.items():
                key = (ids[unit], unit)
                code, output, summary = await schemathesis(hub.url, tokens[who], key, tmp_path, who)
                tested, examples, reached = passed(who, code, output, summary)
                # Most operations must have been reached with a valid request, or the run
                # tested little beyond validation and access refusals (a commune key is refused
                # the province-only catalogue writes by design).
                assert 2 * reached >= tested, f"{who}: only {reached} operations got a 2xx"
                if who == "admin":
                    revoked = accepted(summary, "DELETE /api/v1/keys/{key_id}")
                    assert revoked, "no key was revoked: revoke_key was not exercised"
                async with httpx.AsyncClient(base_url=hub.url) as http:
                    still = await http.get(
                        f"/api/v1/units/{unit}", headers={"Authorization": f"Bearer {tokens[who]}"}
                    )
                assert still.status_code == 200, f"{who}'s key stopped working: {still.text}"
                tried.append(f"{who}: {tested} operations, {examples} examples, {reached} with 2xx")
    finally:
        await drop_database(url)
    # Shown with -s or -rP.
    print("schemathesis: " + "; ".join(tried))
