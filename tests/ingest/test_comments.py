"""A pushed row's optional comment (docs/design.md §3): stored exactly as sent, whatever it
holds and however large the push, returned by the observations list and kept in revisions."""

import json
import unicodedata
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from ioc_hub.ingest.rows import MAX_COMMENT
from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer

DAILY = "DVC-HS-TIEP-NHAN"  # daily; communes report it
FIRST_DAY = date(2024, 1, 1)

# Text that breaks hand-built SQL or array literals: separators, braces, quotes, escapes,
# line breaks, NULL spelled out, and Vietnamese with combining and precomposed marks.
AWKWARD = [
    'a,b},{"c"',
    "{1,2,3}",
    "it's \"quoted\" and 'single'",
    "back\\slash \\\\ and \\N and \\x00 spelled out",
    "line one\nline two\r\nline three\ttabbed",
    "NULL",
    "null",
    "",
    " ",
    "Số liệu tạm tính; sẽ cập nhật sau khi đối soát với Sở Nội vụ (Thủ Dầu Một)",
    unicodedata.normalize("NFC", "Phường Tân Đông Hiệp: dữ liệu ghép từ 3 xã cũ"),
    unicodedata.normalize("NFD", "Phường Tân Đông Hiệp: dữ liệu ghép từ 3 xã cũ"),
    "emoji ✅ and math ≤ ≥ ±",
    "x" * MAX_COMMENT,
]


def comment_of(i: int) -> str | None:
    """Every row carries awkward text, and some none at all."""
    return None if i % 17 == 5 else AWKWARD[i % len(AWKWARD)]


def rows(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {
            "indicator": DAILY,
            "value": i,
            "period": (FIRST_DAY + timedelta(days=i)).isoformat(),
        }
        if comment_of(i) is not None:
            row["comment"] = comment_of(i)
        out.append(row)
    return out


async def stored_comments(
    client: httpx.AsyncClient, auth: dict[str, str], count: int
) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    offset = 0
    while True:
        page = await client.get(
            "/api/v1/observations",
            params={"indicator": DAILY, "limit": 500, "offset": offset},
            headers=auth,
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        found.update({item["period"]: item["comment"] for item in items})
        offset += len(items)
        if not items or offset >= count:
            return found


@pytest.mark.parametrize("count", [1, 63, 64, 1000])
async def test_comments_come_back_exactly_in_pushes_of_any_size(
    roomy_client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock, count: int
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    commune = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))
    sent = rows(count)
    response = await roomy_client.post(
        "/api/v1/observations", json={"observations": sent}, headers=commune
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == count

    stored = await stored_comments(roomy_client, commune, count)
    assert stored == {row["period"]: row.get("comment") for row in sent}


async def test_a_changed_comment_is_a_revision_that_keeps_both_comments(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    commune = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))
    row = {"indicator": DAILY, "value": 12, "period": "2026-11-27", "comment": "tạm tính"}

    async def push(**changes: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/observations", json={"observations": [{**row, **changes}]}, headers=commune
        )
        assert response.status_code == 200, response.text
        summary: dict[str, Any] = response.json()
        return summary

    assert (await push())["created"] == 1
    assert (await push())["unchanged"] == 1, "same value, same comment"
    clock.set("2026-11-28T11:00:00+00:00")
    assert (await push(comment='đã đối soát, 1,2 "ok"'))["updated"] == 1, "new comment"
    assert (await push(value=14, comment=None))["updated"] == 1, "new value, comment dropped"

    history = await client.get(
        f"/api/v1/observations/25741/{DAILY}/2026-11-27/revisions", headers=commune
    )
    assert history.status_code == 200
    assert [
        (r["revision"], r["old_value"], r["new_value"], r["old_comment"], r["new_comment"])
        for r in history.json()
    ] == [
        (2, 12, 12, "tạm tính", 'đã đối soát, 1,2 "ok"'),
        (3, 12, 14, 'đã đối soát, 1,2 "ok"', None),
    ]
    [current] = (await client.get("/api/v1/observations", headers=commune)).json()["items"]
    assert (current["value"], current["comment"], current["revision"]) == (14, None, 3)


@pytest.mark.parametrize(
    ("comment", "reason"),
    [
        ("x" * (MAX_COMMENT + 1), f"comment is longer than {MAX_COMMENT} characters"),
        ("before\x00after", "comment must not contain NUL"),
        (42, "comment must be a string, not a number"),
    ],
)
async def test_a_bad_comment_rejects_its_row_only(
    client: httpx.AsyncClient,
    seeded: None,
    mint_key: MintKey,
    clock: Clock,
    comment: Any,
    reason: str,
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    commune = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))
    good = {"indicator": DAILY, "value": 1, "period": "2026-11-26"}
    bad = {"indicator": DAILY, "value": 2, "period": "2026-11-27", "comment": comment}
    response = await client.post(
        "/api/v1/observations", json={"observations": [good, bad]}, headers=commune
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert summary["errors"][0]["index"] == 1
    assert reason in summary["errors"][0]["reason"]


async def test_an_import_stores_its_comments_and_a_refused_row_is_kept_as_sent(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    clock.set("2026-11-28T10:00:00+00:00")
    admin = bearer(await mint_key("74", *Scope))
    rows = [
        {
            "unit": "25741",
            "indicator": DAILY,
            "value": 7,
            "period": "2026-11-20",
            "received_at": "2026-11-21T09:00:00+07:00",
            "comment": 'sổ cũ, "nhập lại"',
        },
        {"unit": "25741", "indicator": DAILY, "value": 8, "period": "2026-11-21", "comment": 1},
    ]
    response = await client.post("/api/v1/imports", json={"observations": rows}, headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["rejected"]) == (1, 1)
    [stored] = (await client.get("/api/v1/observations", headers=admin)).json()["items"]
    assert (stored["comment"], stored["imported"]) == ('sổ cũ, "nhập lại"', True)

    [kept] = (await client.get("/api/v1/rejections", headers=admin)).json()["items"]
    assert json.loads(kept["row"]) == rows[1], "the row as it was sent, not as it was read"
