import pytest

from tests.conftest import Clock, bearer


@pytest.fixture
async def admin(admin_token: str, clock: Clock) -> dict[str, str]:
    """A province key with every scope, at the fixed clock (2026-11-28 17:00 local)."""
    return bearer(admin_token)
