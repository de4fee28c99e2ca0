"""Assertions on problem details shared by the catalogue tests."""

from typing import Any

import httpx


def assert_problem(response: httpx.Response, status: int, field: str, reason: str) -> Any:
    """The response is a problem with ``status`` whose errors name ``field`` and ``reason``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert any(e["field"] == field and reason in e["reason"] for e in problem["errors"]), problem
    return problem
