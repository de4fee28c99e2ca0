"""The ASGI entry point for uvicorn: ``ioc_hub.main:app``."""

from ioc_hub.app import create_app

app = create_app()
