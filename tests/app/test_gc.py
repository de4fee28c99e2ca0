"""The app freezes what import and startup built out of the cyclic collector's sight, so that a
full collection in the middle of a push does not walk it (``python -m bench.gc_pauses``)."""

import gc

from asgi_lifespan import LifespanManager

from ioc_hub.app import create_app
from ioc_hub.config import Settings


async def test_startup_objects_are_frozen(database_url: str) -> None:
    gc.unfreeze()
    app = create_app(Settings(database_url=database_url))
    assert gc.get_freeze_count() == 0
    async with LifespanManager(app):
        assert gc.get_freeze_count() > 0
        # The collector's generations no longer hold the app's objects: they are frozen.
        assert gc.is_tracked(app.state.engine)
        assert not any(o is app.state.engine for o in gc.get_objects())
