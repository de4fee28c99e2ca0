"""Documenting request bodies that an endpoint reads itself (to validate row by row) rather than
through a pydantic parameter: the model still appears in the published contract."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_documented: list[type[BaseModel]] = []


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body has the shape of ``model``."""
    if model not in _documented:
        _documented.append(model)
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def install(app: FastAPI) -> None:
    """Generate the schema once, adding the models that routes documented with ``json_body``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, defs = models_json_schema(
                [(m, "validation") for m in _documented],
                ref_template="#/components/schemas/{model}",
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
