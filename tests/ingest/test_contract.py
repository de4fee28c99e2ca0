"""The published push contract is the row model's: a field added to ``ObservationIn`` is in
``openapi/openapi.json`` (regenerated), and nothing else describes a pushed row."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ioc_hub.ingest.schemas import ImportRequest, ImportRowIn, ObservationIn, PushRequest


def published(project_root: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((project_root / "openapi/openapi.json").read_text())
    return document


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own JSON schema as FastAPI publishes it (which leaves out null defaults)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    for field in schema.get("properties", {}).values():
        if "default" in field and field["default"] is None:
            del field["default"]
    return schema


def test_the_published_rows_are_the_row_models(project_root: Path) -> None:
    document = published(project_root)
    schemas = document["components"]["schemas"]
    for path, request, row in [
        ("/api/v1/observations", PushRequest, ObservationIn),
        ("/api/v1/imports", ImportRequest, ImportRowIn),
    ]:
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        reference = {"$ref": f"#/components/schemas/{request.__name__}"}
        assert body["content"]["application/json"]["schema"] == reference
        rows = schemas[request.__name__]["properties"]["observations"]
        assert rows["type"] == "array"
        assert rows["minItems"] == 1
        assert rows["items"] == {"$ref": f"#/components/schemas/{row.__name__}"}
        assert schemas[row.__name__] == schema_of(row)
    assert "comment" in schemas["ObservationIn"]["properties"]


def test_push_parameters_are_declared(project_root: Path) -> None:
    operation = published(project_root)["paths"]["/api/v1/observations"]["post"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["atomic"]["in"] == "query"
    assert parameters["Idempotency-Key"]["in"] == "header"
    assert operation["security"], "the key is declared like every other route's"
    assert {"200", "401", "403", "409", "413", "422"} <= set(operation["responses"])
