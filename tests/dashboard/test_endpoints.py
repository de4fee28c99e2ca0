"""The hub serves the dashboard's files: the page, its two assets, nothing else."""

import re

import httpx

from ioc_hub.app import create_app


async def test_dashboard_page_needs_no_key_and_locks_itself_down(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "form-action 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    # Nothing is fetched from another origin: every asset is one of the hub's own files.
    assets = re.findall(r'(?:href|src)="([^"]+)"', response.text)
    assert sorted(assets) == [
        "dashboard/static/dashboard.css",
        "dashboard/static/dashboard.js",
        "data:,",
    ]


async def test_dashboard_assets_are_served_with_their_types_and_revalidated(
    client: httpx.AsyncClient,
) -> None:
    css = await client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    script = await client.get("/dashboard/static/dashboard.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "api/v1/stream" in script.text
    again = await client.get(
        "/dashboard/static/dashboard.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_dashboard_serves_no_other_file(client: httpx.AsyncClient) -> None:
    for name in ["endpoints.py", "dashboard.html", "index.html", "..%2Fendpoints.py", "%2E%2E"]:
        response = await client.get(f"/dashboard/static/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"


def test_dashboard_is_documented_as_an_html_page_and_its_assets_are_not() -> None:
    paths = create_app().openapi()["paths"]
    page = paths["/dashboard"]["get"]
    assert page["summary"] == "Operator dashboard"
    assert "text/html" in page["responses"]["200"]["content"]
    assert not any(path.startswith("/dashboard/static") for path in paths)


async def test_the_root_links_a_person_to_the_dashboard_the_docs_and_the_open_data(
    client: httpx.AsyncClient, seeded: None
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    links = re.findall(r'href="([^"]+)"', response.text)
    assert {"dashboard", "docs", "open/v1/catalog"} <= set(links)
    # Relative links, so the page works under any prefix; each leads somewhere that answers.
    for link in links:
        if link != "data:,":
            followed = await client.get(f"/{link}")
            assert followed.status_code == 200, link
    assert "/" not in create_app().openapi()["paths"]
