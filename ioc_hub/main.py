"""The ASGI entry point for uvicorn: ``ioc_hub.main:app``."""

import gc

from ioc_hub.app import create_app

app = create_app()
# What importing made (the libraries, the app and its routes) lives as long as the process: out
# of the collector's generations, a full collection no longer walks it at every few answers.
gc.freeze()
