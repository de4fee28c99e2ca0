"""A filled form uploaded back (docs/design.md §10, "Spreadsheets"): its rows go through the
push pipeline, answered with the push's import summary, a refused row named by its cell; blank
values are not reported; CSV is read in UTF-8 (with or without a byte order mark) or UTF-16."""

import codecs
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.sheets.files import fill, reasons, upload, workbook

NOW = "2026-11-28T10:00:00+00:00"
MONTH = "2026-10"
DAILY = "DVC-HS-TIEP-NHAN"  # 0..20000
RATE = "DVC-TY-LE-TRUC-TUYEN"  # monthly, 0..100


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))


async def form(client: httpx.AsyncClient, auth: dict[str, str], period: str, fmt: str) -> bytes:
    response = await client.get(
        "/api/v1/templates/25741", params={"period": period, "format": fmt}, headers=auth
    )
    assert response.status_code == 200, response.text
    return response.content


async def stored(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/observations", params={"unit": "25741", **params}, headers=auth
    )
    assert response.status_code == 200, response.text
    return {item["indicator"]: item["value"] for item in response.json()["items"]}


async def test_xlsx_round_trip_stores_what_was_filled_in_and_skips_blanks(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    values = {RATE: 76.5, "DVC-TY-LE-DUNG-HAN": 98, "VNEID-MUC2-LUY-KE": 15234}
    filled = fill(await form(client, commune, MONTH, "xlsx"), values)
    response = await upload(client, commune, filled, "template-25741-2026-10.xlsx")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["updated"], summary["rejected"]) == (3, 0, 0)
    assert await stored(client, commune, **{"from": MONTH, "to": MONTH}) == values

    # The same file again changes nothing; a corrected value is an update with a revision.
    again = await upload(client, commune, filled, "template-25741-2026-10.xlsx")
    assert again.json()["unchanged"] == 3
    corrected = fill(await form(client, commune, MONTH, "xlsx"), {RATE: 80})
    assert (await upload(client, commune, corrected)).json()["updated"] == 1
    revisions = await client.get(
        f"/api/v1/observations/25741/{RATE}/{MONTH}/revisions", headers=commune
    )
    assert [(r["old_value"], r["new_value"]) for r in revisions.json()] == [(76.5, 80)]


async def test_csv_round_trip(client: httpx.AsyncClient, commune: dict[str, str]) -> None:
    template = (await form(client, commune, "2026-11-27", "csv")).decode("utf-8-sig")
    lines = template.splitlines()
    filled = [lines[0]] + [
        line + {DAILY: "12", "DVC-HS-TRUC-TUYEN": " 7.0 "}.get(line.split(",")[1], "")
        for line in lines[1:]
    ]
    body = "\r\n".join(filled).encode("utf-8-sig")  # as Excel saves "CSV UTF-8"
    response = await upload(client, commune, body, "template-25741-2026-11-27.csv")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    assert await stored(client, commune, **{"from": "2026-11-27", "to": "2026-11-27"}) == {
        DAILY: 12,
        "DVC-HS-TRUC-TUYEN": 7,
    }


async def test_a_refused_row_is_named_by_sheet_row_and_column(
    client: httpx.AsyncClient, commune: dict[str, str], mint_key: MintKey
) -> None:
    day = "2026-11-27"
    rows = [
        ["25741", DAILY, "", "", day, 0, 20000, 30315],  # row 2: above max
        ["25741", "NO-SUCH", "", "", day, "", "", 4],  # row 3: unknown indicator
        ["25741", "DVC-HS-TRUC-TUYEN", "", "", day, "", "", "abc"],  # row 4: text
        ["25741", "DVC-HS-QUA-HAN", "", "", day, "", "", "12,5"],  # row 5: decimal comma
        ["25741", "TD1022-PAKN-DA-XU-LY", "", "", day, "", "", "=2*3"],  # row 6: formula
        ["25813", "VNEID-MUC2-KICH-HOAT-MOI", "", "", day, "", "", 9],  # row 7: not ours
        ["25741", "VNEID-MUC2-KICH-HOAT-MOI", "", "", "2026-13", "", "", 9],  # row 8: period
        ["25741", "VNEID-MUC2-KICH-HOAT-MOI", "", "", day, "", "", 9],  # row 9: good
        ["25741", "DVC-HS-QUA-HAN", "", "", day, "", "", None],  # row 10: not reported
    ]
    response = await upload(client, commune, workbook(rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["rejected"]) == (1, 7)
    assert reasons(body) == [
        "Sheet1!H2: value 30315 above max 20000",
        "Sheet1!B3: unknown indicator 'NO-SUCH'",
        "Sheet1!H4: value 'abc' is not a number",
        "Sheet1!H5: value '12,5' is not a number as the hub reads one: write decimals with a "
        "point (12.5) and no thousands separators",
        "Sheet1!H6: value is a formula ('=2*3'); the hub never evaluates formulas: type the "
        "value itself",
        "Sheet1!A7: unit 25813 is outside this key's area",
        "Sheet1!E8: period '2026-13' is not a valid period: month must be 01..12",
    ]
    assert [e["index"] for e in body["errors"]] == [0, 1, 2, 3, 4, 5, 6]

    # Operators find the same reasons, and the row as it was read, among the rejections.
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    kept = (await client.get("/api/v1/rejections", headers=operator)).json()["items"]
    assert sorted(r["reason"] for r in kept) == sorted(reasons(body))
    above = next(r for r in kept if r["reason"].startswith("Sheet1!H2"))
    assert (above["unit"], above["indicator"]) == ("25741", DAILY)
    assert '"sheet":"Sheet1","row":2' in above["row"]


async def test_a_form_of_which_no_row_stores_is_refused_whole(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    rows = [
        ["25741", DAILY, "", "", "2026-11-27", "", "", 1],
        ["25741", DAILY, "", "", "x", "", "", 2],
    ]
    atomic = await client.post(
        "/api/v1/uploads",
        params={"atomic": "true"},
        files={"file": ("f.xlsx", workbook(rows))},
        headers=commune,
    )
    assert atomic.status_code == 422
    assert atomic.headers["content-type"] == "application/problem+json"
    assert reasons(atomic.json()) == [
        "Sheet1!E3: period 'x' is not a valid period: expected 2026-11-28, 2026-W48, 2026-11, "
        "2026-Q4 or 2026 (DHIS2: 20261128, 2026W48, 202611, 2026Q4)"
    ]
    assert await stored(client, commune) == {}


async def test_rows_without_a_unit_are_the_forms_unit_or_the_keys(
    client: httpx.AsyncClient, commune: dict[str, str], mint_key: MintKey
) -> None:
    csv_body = f"indicator;period;value\n{DAILY};2026-11-27;5\n".encode()
    mine = await upload(client, commune, csv_body, "mine.csv")
    assert mine.json()["created"] == 1
    district = bearer(await mint_key("718", Scope.OBSERVATIONS_WRITE))
    theirs = await upload(client, district, csv_body.replace(b";5", b";6"), "c.csv", unit="25741")
    assert theirs.json()["updated"] == 1
    assert await stored(client, commune) == {DAILY: 6}
    outside = await upload(client, district, csv_body, "c.csv", unit="25813")
    assert outside.status_code == 422
    assert reasons(outside.json()) == ["c!2:2: unit 25813 is outside this key's area"]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
     ("utf-16-be", codecs.BOM_UTF16_BE)],
)  # fmt: skip
async def test_csv_in_unicode_is_read_with_its_vietnamese_comment(
    client: httpx.AsyncClient, commune: dict[str, str], encoding: str, bom: bytes
) -> None:
    text = (
        f"Mã chỉ tiêu\tKỳ báo cáo\tGiá trị\tGhi chú\r\n{DAILY}\t2026-11-27\t3\tSố liệu tạm tính\r\n"
    )
    response = await upload(client, commune, bom + text.encode(encoding), "bao-cao.csv")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    items = (await client.get("/api/v1/observations", headers=commune)).json()["items"]
    assert [(i["value"], i["comment"]) for i in items] == [(3, "Số liệu tạm tính")]


async def test_csv_in_a_legacy_code_page_is_refused_saying_how_to_save_it(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    # Windows-1258 writes "Hồ sơ" as H, ô, a combining grave accent, " s", ơ.
    head = "unit,indicator,name,measurement_unit,period,min,max,value\r\n"
    text = head + f"25741,{DAILY},H\u00f4\u0300 s\u01a1,,2026-11-27,0,20000,3\r\n"
    legacy = text.encode("cp1258")
    response = await upload(client, commune, legacy, "bao-cao.csv")
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "body.file"
    first = len(head) + len(f"25741,{DAILY},H")
    assert legacy[first] == 0xF4
    assert error["reason"].startswith(
        f"the CSV is not UTF-8: byte {first} (line 2) cannot be decoded"
    )
    assert "Save it as 'CSV UTF-8 (Comma delimited)'" in error["reason"]
    unmarked = await upload(client, commune, text.encode("utf-16-le"), "bao-cao.csv")
    assert unmarked.status_code == 422
    assert "UTF-16 without a byte order mark" in unmarked.json()["detail"]


async def test_a_form_with_no_value_filled_in_is_refused(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await upload(client, commune, await form(client, commune, MONTH, "xlsx"))
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the file reports nothing: every cell of its 'Giá trị' column (column H of the "
        "template) is empty"
    )
    assert await stored(client, commune) == {}
