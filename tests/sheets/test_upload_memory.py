"""Bombs against a real hub process (`ioc-hub serve`, the shipped limits): each is refused,
and the process's resident memory, sampled from /proc while it works, grows by less than the
100 MB the issue allows a 5,000-row upload (bench/upload.py measures that one)."""

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from ioc_hub.models import Scope
from tests.fixtures.database import ENGINES, database_url_for
from tests.fixtures.process import Hub, cli, mint, rss_bytes, running_hub
from tests.sheets.files import rewritten, sheet_xml, with_sheet, workbook

MB = 1024 * 1024
GROWTH_BOUND = 100 * MB

pytestmark = pytest.mark.slow


@pytest.fixture(params=ENGINES)
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Hub, str]]:
    async for url in database_url_for(request.param, tmp_path):
        await cli(url, "seed")
        key = await mint(url, "25741", Scope.OBSERVATIONS_WRITE)
        async with running_hub(url, tmp_path / "hub.log") as running:
            yield running, key


async def peak_growth(pid: int, work: Callable[[], Awaitable[None]]) -> int:
    """How far the process's resident memory rose above where it was while ``work`` ran."""
    baseline = peak = rss_bytes(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(pid))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        await work()
    finally:
        done.set()
        await sampler
    return peak - baseline


def deflated(name: str, size: int) -> bytes:
    """A workbook with a part that unpacks to ``size`` bytes of spaces, written in pieces."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for source_name, data in _parts(workbook([])):
            archive.writestr(source_name, data)
        with archive.open(name, "w", force_zip64=False) as part:
            for _ in range(size // MB):
                part.write(b" " * MB)
    return out.getvalue()


def _parts(xlsx: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def many_rows(count: int) -> bytes:
    """A sheet that says it has two rows and has ``count``, each with a value."""
    header = (
        '<row r="1"><c r="B1" t="inlineStr"><is><t>indicator</t></is></c>'
        '<c r="E1" t="inlineStr"><is><t>period</t></is></c>'
        '<c r="H1" t="inlineStr"><is><t>value</t></is></c></row>'
    )
    rows = (f'<row r="{n}"><c r="H{n}"><v>{n}</v></c></row>' for n in range(2, count + 2))
    return with_sheet(workbook([]), sheet_xml([header, *rows], dimension="A1:H2"))


def many_strings(count: int) -> bytes:
    """A shared-strings table of ``count`` distinct strings: openpyxl holds it all."""
    table = "".join(f"<si><t>chuỗi {n:08d}</t></si>" for n in range(count))
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{count}" uniqueCount="{count}">{table}</sst>'
    ).encode()
    override = (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )

    def declare(name: str, data: bytes) -> bytes:
        return data.replace(b"</Types>", override) if name == "[Content_Types].xml" else data

    return rewritten(workbook([]), declare, **{"xl/sharedStrings.xml": xml})


async def test_bombs_are_refused_within_bounded_memory(hub: tuple[Hub, str]) -> None:
    running, key = hub
    bombs = {
        "a part that unpacks to 1 GB": (deflated("xl/worksheets/sheet2.xml", 1024 * MB), 413),
        "a dimension of every cell Excel has": (
            with_sheet(workbook([]), sheet_xml([], dimension="A1:XFD1048576")),
            413,
        ),
        "300,000 rows behind a two-row dimension": (many_rows(300_000), 413),
        "480,000 shared strings": (many_strings(480_000), 413),
        "60,000 shared strings, just under their bound": (many_strings(60_000), 422),
    }
    async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {key}"}

        async def send(content: bytes) -> httpx.Response:
            return await http.post(
                "/api/v1/uploads", files={"file": ("bomb.xlsx", content)}, headers=auth
            )

        # Warm up: the first upload imports openpyxl and fills the registry cache.
        assert (await send(workbook([]))).status_code == 422
        for name, (content, status) in bombs.items():
            answers: list[httpx.Response] = []

            async def work(
                content: bytes = content, answers: list[httpx.Response] = answers
            ) -> None:
                answers.append(await send(content))

            growth = await peak_growth(running.pid, work)
            (answer,) = answers
            print(f"\n{name}: {len(content) / MB:.1f} MB sent, HTTP {answer.status_code}, "
                  f"hub RSS grew {growth / MB:.1f} MB")  # fmt: skip
            assert answer.status_code == status, (name, answer.text)
            assert growth < GROWTH_BOUND, (name, growth)
