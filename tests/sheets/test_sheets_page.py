"""The reporting-forms page in a real headless Chromium (as tests/dashboard/test_dashboard.py
drives it) against the hub over real HTTP: a unit's key downloads its form, the test fills the
downloaded file as a clerk would in Excel (openpyxl), the page uploads it back and shows the
summary, and the values are then stored."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.dashboard.test_dashboard import CHROMIUM, page
from tests.sheets.files import fill

__all__ = ["page"]  # the fixture, shared with the dashboard's test

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


async def test_a_clerk_downloads_the_form_and_uploads_it_filled(
    live_url: str, seeded: None, mint_key: MintKey, clock: Clock, page: Any, tmp_path: Path
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    key = await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    await page.goto(f"{live_url}/dashboard/sheets")
    await page.fill("#key-input", key)
    await page.fill("#unit-input", "25741")
    await page.fill("#period-input", "2026-10")
    async with page.expect_download() as downloading:
        await page.click("#download")
    download = await downloading.value
    assert download.suggested_filename == "template-25741-2026-10.xlsx"
    form = await asyncio.to_thread(Path(await download.path()).read_bytes)

    # Row 4 is DVC-TY-LE-DUNG-HAN, a percentage: 101 is out of its range.
    filled = tmp_path / "bao-cao-25741-2026-10.xlsx"
    await asyncio.to_thread(
        filled.write_bytes, fill(form, {"DVC-TY-LE-TRUC-TUYEN": 76.5, "DVC-TY-LE-DUNG-HAN": 101})
    )
    await page.set_input_files("#upload-file", str(filled))
    await page.click("#upload")
    await page.wait_for_selector("#upload-result:visible")
    counts = {
        name: await page.locator(f'[data-count="{name}"]').text_content()
        for name in ("created", "updated", "unchanged", "rejected")
    }
    assert counts == {"created": "1", "updated": "0", "unchanged": "0", "rejected": "1"}
    assert await page.locator("#upload-errors li").all_text_contents() == [
        "BaoCao!H4: value 101 above max 100"
    ]
    assert problems == []

    async with httpx.AsyncClient(base_url=live_url) as http:
        stored = await http.get(
            "/api/v1/observations", params={"unit": "25741"}, headers=bearer(key)
        )
    assert [(i["indicator"], i["period"], i["value"]) for i in stored.json()["items"]] == [
        ("DVC-TY-LE-TRUC-TUYEN", "2026-10", 76.5)
    ]
