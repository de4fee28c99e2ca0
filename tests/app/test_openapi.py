"""The published contract is generated from the app; this fails when it drifts."""

from pathlib import Path

from ioc_hub.app import create_app
from ioc_hub.openapi import render


def test_committed_openapi_matches_the_app(project_root: Path) -> None:
    committed = (project_root / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), "openapi/openapi.json is stale: run `ioc-hub openapi`"


def test_every_operation_has_a_summary_a_description_and_typed_responses() -> None:
    schema = create_app().openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("description"), where
            assert operation.get("operationId"), where
            ok = [code for code in operation["responses"] if code.startswith("2")]
            assert ok, where
            for code in ok:
                content = operation["responses"][code].get("content", {})
                if code != "204":
                    assert content, f"{where} {code} has no typed body"
            body = operation.get("requestBody")
            if body:
                # A JSON body is a model with an example; a multipart one (a file upload)
                # describes each of its parts.
                multipart = "multipart/form-data" in body["content"]
                media = body["content"]["multipart/form-data" if multipart else "application/json"]
                ref = media["schema"].get("$ref", "")
                assert ref, f"{where} request body is not a model"
                model = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                if multipart:
                    for name, part in model["properties"].items():
                        assert part.get("description"), f"{where} part {name} is not described"
                else:
                    assert "examples" in model or "example" in model, f"{where} has no example"
