"""The OpenAPI schema: extension endpoints under their tags, x-extensions, per-extension download, error body."""

from __future__ import annotations

import json

import pytest
import yaml

from extensions_core.models import Extension
from extensions_core.services import extension_unload
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db


def schema_for(client):
    return client.get("/api/schema/?format=json").json()


def test_the_schema_is_yaml_by_default_and_json_on_request(client_as):
    client = client_as("superuser")

    as_yaml = client.get("/api/schema/")
    as_json = client.get("/api/schema/?format=json")

    assert yaml.safe_load(as_yaml.content)["openapi"].startswith("3.")
    assert json.loads(as_json.content)["openapi"].startswith("3.")


def test_the_schema_downloads_as_an_attachment(client_as):
    response = client_as("superuser").get("/api/schema/?download=1")

    assert response["Content-Disposition"] == 'attachment; filename="karen-extensions.yaml"'


def test_extension_endpoints_appear_under_their_tag_with_their_description(client_as):
    schema = schema_for(client_as("superuser"))

    operation = schema["paths"]["/api/extensions/hello-extension/hello/{name}"]["get"]
    assert operation["tags"][0] == "hello-extension"
    assert operation["summary"] == "Get a personalized hello message"
    assert operation["parameters"] == [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert operation["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "hello-extension" in [tag["name"] for tag in schema["tags"]]


def test_x_extensions_describes_each_loaded_extension(client_as):
    schema = schema_for(client_as("superuser"))

    assert schema["x-extensions"]["hello-extension"] == {
        "display_name": "Hello Extension",
        "version": "1.0.0",
        "description": "A simple example extension demonstrating the extension system capabilities",
        "author": "AI Karen Team",
        "category": "examples",
        "status": "active",
        "endpoints": 2,
    }
    assert set(schema["x-extensions"]) == {"hello-extension", "background-task-extension"}


def test_the_schema_changes_when_an_extension_unloads(client_as):
    client = client_as("superuser")

    extension_unload(name="hello-extension")
    schema = schema_for(client)

    assert "hello-extension" not in schema["x-extensions"]
    assert not [path for path in schema["paths"] if path.startswith("/api/extensions/hello-extension/")]


def test_the_schema_shows_only_extensions_the_caller_may_see(platform):
    viewer = make_user("viewer", Extension.objects.get(name="hello-extension"))

    schema = schema_for(token_client(viewer))

    assert set(schema["x-extensions"]) == {"hello-extension"}
    assert "/api/extensions/background-task-extension/status" not in schema["paths"]


def test_one_extensions_schema_downloads_alone(client_as):
    response = client_as("viewer").get("/api/extensions/hello-extension/schema?format=json&download=1")

    schema = response.json()
    assert sorted(schema["paths"]) == [
        "/api/extensions/hello-extension/health",
        "/api/extensions/hello-extension/hello",
        "/api/extensions/hello-extension/hello/{name}",
    ]
    assert list(schema["x-extensions"]) == ["hello-extension"]
    assert response["Content-Disposition"] == 'attachment; filename="hello-extension.json"'


def test_an_invisible_extensions_schema_is_404(client_as):
    response = client_as("no_grants").get("/api/extensions/hello-extension/schema")

    assert response.status_code == 404
    assert response.json()["code"] == "extension_not_found"


def test_the_error_body_is_one_documented_component(client_as):
    schema = schema_for(client_as("superuser"))

    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message", "problems"}
    assert error["required"] == ["code", "message"]
    references = json.dumps(schema["paths"]).count('"#/components/schemas/Error"')
    assert references > 40


def test_every_response_field_of_the_management_paths_is_documented(client_as):
    schema = schema_for(client_as("superuser"))

    detail = schema["components"]["schemas"]["ExtensionDetail"]["properties"]
    assert {"name", "status", "error_code", "error_message", "manifest", "endpoints", "tasks"} <= set(detail)
    health = schema["components"]["schemas"]["SystemHealth"]["properties"]
    assert {"database", "broker", "workers", "beat", "extensions"} <= set(health)


def test_swagger_and_redoc_pages_load(client):
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/redoc/").status_code == 200
