"""The published contract: ``openapi/openapi.json`` is this function's output, byte for byte."""

import json

from ioc_hub.app import create_app
from ioc_hub.config import Settings


def render() -> str:
    # Fixed settings: the document must not depend on the machine that generates it.
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
