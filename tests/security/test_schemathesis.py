"""Schemathesis against a real hub process (issue 7, hostile input): every operation of the
published OpenAPI, with keys of several scopes, must answer without a 5xx and within its own
schema.

Each key gets a fresh seeded PostgreSQL database and hub of its own, and two passes: first every
operation except those that can disable the caller (revoking keys, deactivating or moving units:
fuzzed ids and codes hit the caller's own key and unit), then — once the key is shown to still
work — those operations alone. Otherwise one run's revocations leave the next runs testing
nothing but 401s.

Excluded: ``GET /api/v1/stream`` — Server-Sent Events that never end, so there is no response to
check. ``/dashboard/static/{name}`` is not in the schema (``include_in_schema=False``).
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

# Small enough that the whole test stays well under 3 minutes on 2 cores.
MAX_EXAMPLES = int(os.environ.get("IOC_HUB_SCHEMATHESIS_EXAMPLES", "50"))
RUN_TIMEOUT = 170.0
CHECKS = "not_a_server_error,response_schema_conformance"
EXCLUDED_PATHS = ["/api/v1/stream"]
SELF_HARMING = ["revoke_key", "deactivate_unit", "update_unit"]
ALL_SCOPES = [s.value for s in Scope]
KEYS = {"admin": "74", "district": "718", "commune": "25741"}  # every one with every scope


async def schemathesis(
    url: str, token: str, report: Path, *filters: str
) -> tuple[int, str, dict[str, Any]]:
    args = [
        *("run", f"{url}/openapi.json"),
        *("--checks", CHECKS),
        *("--header", f"Authorization: Bearer {token}"),
        *("--max-examples", str(MAX_EXAMPLES)),
        *(part for path in EXCLUDED_PATHS for part in ("--exclude-path", path)),
        *filters,
        *("--phases", "examples,coverage,fuzzing"),
        *("--seed", "7"),
        # One worker: with two, Hypothesis's lambda-source lookup (ast.parse in threads) now
        # and then dies inside CPython 3.11 with "AST constructor recursion depth mismatch".
        *("--workers", "1"),
        "--no-shrink",
        *("--request-timeout", "30"),
        *("--report", "json", "--report-json-path", str(report)),
        "--continue-on-failure",
    ]
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        *args,
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


def passed(who: str, code: int, output: str, summary: dict[str, Any]) -> tuple[int, int, int]:
    """Checks one run's report; (operations tested, examples generated, operations that got at
    least one 2xx)."""
    assert code == 0, f"schemathesis as {who} found failures:\n{output}"
    operations, cases = summary["operations"], summary["test_cases"]
    assert summary["failures"] == [], summary["failures"]
    assert summary["errors"] == [], summary["errors"]
    assert operations["errored"] == 0
    assert operations["tested"] == operations["selected"]
    assert cases["with_failures"] == 0
    accepted = sum(
        1
        for rates in summary["valid_rates"].values()
        if sum(phase["accepted"] for phase in rates.values()) > 0
    )
    return operations["tested"], cases["generated"], accepted


@pytest.mark.slow
async def test_schemathesis_every_operation_every_key(tmp_path: Path) -> None:
    tried: list[str] = []
    for who, unit in KEYS.items():
        url = await create_database("postgresql", tmp_path)
        try:
            await cli(url, "seed")
            token = await mint(url, unit, *ALL_SCOPES)
            async with running_hub(url, tmp_path / f"hub-{who}.log") as hub:
                excluded = [p for op in SELF_HARMING for p in ("--exclude-operation-id", op)]
                first = passed(
                    who, *await schemathesis(hub.url, token, tmp_path / f"{who}.json", *excluded)
                )
                async with httpx.AsyncClient(base_url=hub.url) as http:
                    still = await http.get(
                        f"/api/v1/units/{unit}", headers={"Authorization": f"Bearer {token}"}
                    )
                assert still.status_code == 200, f"{who}'s key stopped working: {still.text}"
                # Most operations must have been reached with a valid request, or the run tested
                # little beyond validation and access refusals (district and commune keys are
                # refused the province-only catalogue writes and imports by design).
                assert 2 * first[2] >= first[0], f"{who}: only {first[2]} operations got a 2xx"
                included = [p for op in SELF_HARMING for p in ("--include-operation-id", op)]
                second = passed(
                    who,
                    *await schemathesis(hub.url, token, tmp_path / f"{who}-2.json", *included),
                )
        finally:
            await drop_database(url)
        tried.append(
            f"{who}: {first[0] + second[0]} operations, {first[1] + second[1]} examples, "
            f"{first[2] + second[2]} operations reached with a 2xx"
        )
    # Shown with -s or -rP; the note of issue 7 quotes it.
    print("schemathesis: " + "; ".join(tried))
