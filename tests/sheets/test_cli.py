"""`ioc-hub upload FILE`: a filled form sent to a hub over real HTTP, its summary printed."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey
from tests.sheets.files import workbook

DAY = "2026-11-27"


async def ioc_hub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def key(seeded: None, mint_key: MintKey, clock: Clock) -> str:
    clock.set("2026-11-28T10:00:00+00:00")
    return await mint_key("718", Scope.OBSERVATIONS_WRITE)


async def test_upload_prints_the_summary_and_each_refused_cell(
    live_url: str, key: str, tmp_path: Path
) -> None:
    form = tmp_path / "bao-cao.xlsx"
    form.write_bytes(
        workbook(
            [
                ["", "DVC-HS-TIEP-NHAN", "", "", DAY, "", "", 12],
                ["", "DVC-HS-TIEP-NHAN", "", "", "2026-11-26", "", "", 30315],
            ]
        )
    )
    done = await ioc_hub("upload", str(form), "--unit", "25741", "--url", live_url, IOC_HUB_KEY=key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "created 1, updated 0, unchanged 0, superseded 0, rejected 1",
        "Sheet1!H3: value 30315 above max 20000",
    ]


async def test_upload_exits_1_saying_why_the_file_was_refused(
    live_url: str, key: str, tmp_path: Path
) -> None:
    form = tmp_path / "bao-cao.xlsx"
    form.write_bytes(b"unit,indicator,period,value\n")
    done = await ioc_hub("upload", str(form), "--key", key, "--url", live_url)
    assert done.returncode == 1
    assert "HTTP 422" in done.stderr
    assert "declared an XLSX workbook but is not one" in done.stderr
    assert done.stdout == ""
