"""Bad input gets a clear 4xx in one shape (RFC 9457 problem details), never a 500."""

import httpx
import pytest

from tests.conftest import bearer


async def test_oversized_body_is_413_before_it_is_read(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    huge = b'{"code": "' + b"x" * 300_000 + b'"}'
    response = await client.post(
        "/api/v1/units",
        content=huge,
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "larger than" in response.json()["detail"]


async def test_streamed_oversized_body_without_length_is_413(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 10_000

    response = await client.post(
        "/api/v1/units",
        content=chunks(),
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_malformed_json_is_422_with_a_reason(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.post(
        "/api/v1/units",
        content=b'{"code": ',
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "https://ioc-hub.dev/problems/invalid"
    assert problem["errors"] == [
        {"field": "body", "reason": "the body is not valid JSON: Expecting value at character 9"}
    ]
    assert problem["title"] == "Invalid request"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": "\xff"}', "the body is not UTF-8: byte 10 cannot be decoded"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is nested too deeply to be read"),
    ],
)
async def test_a_body_that_cannot_be_decoded_is_the_hubs_422_naming_the_body(
    client: httpx.AsyncClient, admin_token: str, body: bytes, reason: str
) -> None:
    for method, path in [("POST", "/api/v1/indicator-groups"), ("PATCH", "/api/v1/units/74")]:
        response = await client.request(
            method,
            path,
            content=body,
            headers={**bearer(admin_token), "content-type": "application/json"},
        )
        assert response.status_code == 422, (method, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "https://ioc-hub.dev/problems/invalid"
        assert problem["errors"] == [{"field": "body", "reason": reason}]


async def test_a_wrong_method_is_405_allowing_every_method_of_the_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/api/v1/units/74")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "DELETE, GET, PATCH"


async def test_unknown_route_is_a_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
