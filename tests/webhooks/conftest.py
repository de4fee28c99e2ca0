import pytest

from ioc_hub.models import Scope
from tests.conftest import MintKey


@pytest.fixture
async def hooks_admin(seeded: None, mint_key: MintKey) -> str:
    """A province key with ``alerts:admin`` only."""
    return await mint_key("74", Scope.ALERTS_ADMIN, name="hooks")
