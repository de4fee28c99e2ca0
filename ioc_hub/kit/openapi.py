"""Documenting what FastAPI cannot see: the events of a ``text/event-stream`` response, and
bodies a route reads itself. Their models still appear in the published contract."""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_documented: list[type[BaseModel]] = []


def _ref(model: type[BaseModel]) -> dict[str, str]:
    if model not in _documented:
        _documented.append(model)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def event_stream(events: Mapping[str, type[BaseModel]], description: str) -> dict[str, Any]:
    """The 200 ``responses`` entry of a Server-Sent Events route. The body is text; each
    event's ``data:`` line is the JSON of the model its ``event:`` field names, listed under
    ``x-events`` (OpenAPI 3.1 has no word for the items of a stream)."""
    listed = ", ".join(f"`{name}`: {model.__name__}" for name, model in events.items())
    return {
        "description": description,
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "string",
                    "description": f"Server-Sent Events; the `data:` of each type is ({listed})",
                },
                "x-events": {name: _ref(model) for name, model in events.items()},
            }
        },
    }


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself, so that a body it cannot
    read gets the answer that route's clients expect rather than the hub's validation error:
    the body is still published, as ``model``."""
    return {
        "requestBody": {
            "description": description,
            "required": True,
            "content": {"application/json": {"schema": _ref(model)}},
        }
    }


def install(app: FastAPI) -> None:
    """Generate the schema once, adding the models of the event streams."""

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
