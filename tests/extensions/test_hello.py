"""The shipped hello extension: its manifest, greetings with input validation, and health."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from extensions_core.manifest import read_manifest
from extensions_core.registry import registry
from extensions_core.sdk import RequestError
from extensions_core.services import extension_load
from tests.conftest import CORPUS, SHIPPED

pytestmark = pytest.mark.django_db


@pytest.fixture
def hello(shipped):
    extension_load(name="hello-extension")
    return registry.entries["hello-extension"].instance


def views(instance):
    return {route.path: route.handler for route in instance.get_routes()}


def test_the_manifest_is_the_first_systems_manifest_plus_its_widget():
    shipped = json.loads((SHIPPED / "hello-extension" / "extension.json").read_text())
    widgets = shipped["ui"].pop("dashboard_widgets")

    assert shipped == json.loads((CORPUS / "hello-extension.json").read_text())
    assert [widget["name"] for widget in widgets] == ["greetings"]
    assert read_manifest(SHIPPED / "hello-extension").warnings == ()


def test_hello_greets_and_counts(hello):
    request = RequestFactory().get("/api/extensions/hello-extension/hello")

    first = views(hello)["/hello"](request)
    second = views(hello)["/hello"](request)

    assert first["message"] == "Hello from the AI Karen Extension System!"
    assert (first["extension"], first["version"]) == ("hello-extension", "1.0.0")
    assert (first["greeting_number"], second["greeting_number"]) == (1, 2)


def test_hello_name_greets_personally(hello):
    answer = views(hello)["/hello/{name}"](RequestFactory().get("/"), name="Ada")

    assert answer["message"] == "Hello, Ada! Welcome to the AI Karen Extension System!"
    assert answer["personalized"] is True


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "name_empty"), ("   ", "name_empty"), ("x" * 51, "name_too_long")],
    ids=["empty", "blank", "51-characters"],
)
def test_hello_name_rejects_bad_names_with_400(hello, name, code):
    with pytest.raises(RequestError) as caught:
        views(hello)["/hello/{name}"](RequestFactory().get("/"), name=name)

    assert (caught.value.status_code, caught.value.code) == (400, code)
    assert hello.greeting_count == 0


def test_a_fifty_character_name_is_accepted(hello):
    answer = views(hello)["/hello/{name}"](RequestFactory().get("/"), name="x" * 50)

    assert answer["greeting_number"] == 1


def test_health_reports_greeting_count_and_uptime(hello):
    views(hello)["/hello"](RequestFactory().get("/"))

    health = hello.health_check()

    assert health["healthy"] is True
    assert health["greeting_count"] == 1
    assert health["uptime_seconds"] >= 0


def test_the_hello_dashboard_page_counts_greets_through_its_own_route_and_refuses_bad_names(hello, admin_client):
    page = admin_client.get("/admin/extensions/hello-extension/hello").content.decode()
    greeted = admin_client.get("/admin/extensions/hello-extension/hello", {"name": "Ann"}).content.decode()
    refused = admin_client.get("/admin/extensions/hello-extension/hello", {"name": "x" * 51}).content.decode()

    assert "Greetings served by this web process: <strong data-greeting-count>0</strong>" in page
    assert "up for <strong>" in page
    assert "<p data-greeting>Hello, Ann! Welcome to the AI Karen Extension System!</p>" in greeted
    assert "<strong data-greeting-count>1</strong>" in greeted
    assert "Name too long: at most 50 characters (got 51)" in refused


def test_the_greetings_widget_shows_the_count_and_links_the_page(hello, admin_client):
    hello._count()

    body = admin_client.get("/admin/extensions/hello-extension/widgets/greetings/").content.decode()

    assert "<strong data-greeting-count>1</strong> greeting served by this web process." in body
    assert 'href="/admin/extensions/hello-extension/hello"' in body


def test_the_extension_page_links_each_endpoint_to_its_operation_in_the_api_docs(hello, admin_client):
    from extensions_core.models import Extension

    schema = admin_client.get("/api/schema/?format=json").json()
    operations = {
        operation["operationId"]
        for path, methods in schema["paths"].items()
        if path.startswith("/api/extensions/hello-extension/hello")
        for operation in methods.values()
    }
    page = admin_client.get(
        f"/admin/extensions_core/extension/{Extension.objects.get(name='hello-extension').pk}/change/"
    ).content.decode()

    assert operations == {"hello_extension_hello_get", "hello_extension_hello_by_name_get"}
    for operation in operations:
        assert f'href="/api/docs/#/hello-extension/{operation}"' in page
