"""Mounted extension endpoints: declared routes only, access rules, errors, and lifecycle effects."""

from __future__ import annotations

import pytest

from extensions_core.models import Extension
from extensions_core.permissions import grant
from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_reload,
    extension_unload,
)
from tests.conftest import install_fixture, write_extension
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db
HELLO = "/api/extensions/hello-extension"


def test_hello_greets_a_user_with_use_and_the_role(client_as):
    client = client_as("user_with_use")

    first = client.get(f"{HELLO}/hello")
    personal = client.get(f"{HELLO}/hello/Ada")

    assert first.status_code == 200
    assert first.json()["message"] == "Hello from the AI Karen Extension System!"
    assert personal.json()["message"] == "Hello, Ada! Welcome to the AI Karen Extension System!"
    assert personal.json()["greeting_number"] == 2


@pytest.mark.parametrize(
    ("name", "code"),
    [("%20%20", "name_empty"), ("x" * 51, "name_too_long")],
    ids=["blank", "51-characters"],
)
def test_hello_rejects_bad_names_with_the_error_body(client_as, name, code):
    response = client_as("user_with_use").get(f"{HELLO}/hello/{name}")

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_an_empty_name_segment_is_not_a_route(client_as):
    response = client_as("user_with_use").get(f"{HELLO}/hello/")

    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"


def test_an_undeclared_method_is_405_with_allow(client_as):
    response = client_as("user_with_use").post(f"{HELLO}/hello")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_the_role_alone_is_not_enough(client_as):
    response = client_as("role_without_use").get(f"{HELLO}/hello")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "one of the roles: user" in response.json()["message"]


def test_use_without_the_role_is_not_enough(platform):
    user = make_user("viewer", None)
    grant(user, "use_extension", Extension.objects.get(name="hello-extension"))

    response = token_client(user).get(f"{HELLO}/hello")

    assert response.status_code == 403


def test_a_caller_who_cannot_see_the_extension_gets_the_missing_body(client_as):
    hidden = client_as("no_grants").get(f"{HELLO}/hello")
    missing = client_as("no_grants").get("/api/extensions/no-such-extension/hello")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {
        **missing.json(),
        "message": missing.json()["message"].replace("no-such-extension", "hello-extension"),
    }
    assert hidden.json()["code"] == "extension_not_found"


def test_anonymous_callers_get_401_with_www_authenticate(client_as):
    response = client_as("anonymous").get(f"{HELLO}/hello")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_after_unload_the_routes_answer_404(client_as):
    client = client_as("superuser")
    assert client.get(f"{HELLO}/hello").status_code == 200

    extension_unload(name="hello-extension")
    response = client.get(f"{HELLO}/hello")

    assert response.status_code == 404
    assert response.json()["code"] == "extension_not_loaded"


def test_after_disable_the_routes_answer_404_even_to_those_who_cannot_see(client_as):
    hidden = client_as("no_grants")
    extension_disable(name="hello-extension")

    response = hidden.get(f"{HELLO}/hello")

    assert response.status_code == 404
    assert response.json()["code"] == "extension_not_found"


def test_after_reload_the_route_serves_the_new_code(extensions_root, settings):
    folder = write_extension(
        extensions_root,
        "reload-route",
        api={"endpoints": [{"path": "/version", "methods": ["GET"], "public": True}]},
        code=(
            "from extensions_core.sdk import BaseExtension, route\n\n\n"
            "class ReloadRoute(BaseExtension):\n"
            "    @route('/version')\n"
            "    def version(self, request):\n"
            "        return {'code': 'old'}\n"
        ),
    )
    extension_discover(load_new=True)
    client = token_client(None)
    assert client.get("/api/extensions/reload-route/version").json() == {"code": "old"}
    source = folder / "__init__.py"
    source.write_text(source.read_text().replace("'old'", "'new'"))

    extension_reload(name="reload-route")

    assert client.get("/api/extensions/reload-route/version").json() == {"code": "new"}


def test_a_public_endpoint_admits_anonymous_callers(extensions_root):
    write_extension(
        extensions_root,
        "public-ping",
        api={"endpoints": [{"path": "/ping", "methods": ["GET"], "public": True}]},
        code=(
            "from extensions_core.sdk import BaseExtension, route\n\n\n"
            "class PublicPing(BaseExtension):\n"
            "    @route('/ping')\n"
            "    def ping(self, request):\n"
            "        return {'pong': True, 'user': str(request.user)}\n"
        ),
    )
    extension_discover(load_new=True)

    response = token_client(None).get("/api/extensions/public-ping/ping")

    assert response.status_code == 200
    assert response.json() == {"pong": True, "user": "AnonymousUser"}


def test_a_view_that_raises_answers_500_with_the_error_body_and_the_platform_goes_on(extensions_root, client):
    write_extension(
        extensions_root,
        "buggy-view",
        api={"endpoints": [{"path": "/boom", "methods": ["GET"], "public": True}]},
        code=(
            "from extensions_core.sdk import BaseExtension, route\n\n\n"
            "class Buggy(BaseExtension):\n"
            "    @route('/boom')\n"
            "    def boom(self, request):\n"
            "        raise KeyError('missing')\n"
        ),
    )
    extension_discover(load_new=True)
    anonymous = token_client(None)

    response = anonymous.get("/api/extensions/buggy-view/boom")

    assert response.status_code == 500
    assert response.json()["code"] == "extension_endpoint_failed"
    assert anonymous.get("/api/schema/").status_code == 200


def test_path_parameters_reach_the_view(extensions_root):
    install_fixture(extensions_root, "with_routes")
    extension_discover(load_new=True)
    user = make_user("user_with_use", Extension.objects.get(name="with-routes"))

    response = token_client(user).get("/api/extensions/with-routes/items/42")

    assert response.json() == {"id": "42"}


def test_load_through_the_api_makes_routes_answer(client_as):
    client = client_as("superuser")
    extension_unload(name="hello-extension")

    loaded = client.post(f"{HELLO}/load")
    response = client.get(f"{HELLO}/hello")

    assert loaded.status_code == 200
    assert loaded.json()["status"] == "active"
    assert response.status_code == 200


def test_loading_twice_is_409_with_the_code(client_as):
    response = client_as("superuser").post(f"{HELLO}/load")

    assert response.status_code == 409
    assert response.json()["code"] == "extension_already_loaded"


def test_unload_with_dependents_is_409_unless_cascade(extensions_root):
    install_fixture(extensions_root, "dependency_base")
    install_fixture(extensions_root, "dependency_child")
    extension_discover(load_new=True)
    client = token_client(make_user("superuser", None))

    refused = client.post("/api/extensions/dep-base/unload")
    cascaded = client.post("/api/extensions/dep-base/unload?cascade=true")

    assert refused.status_code == 409
    assert refused.json()["code"] == "extension_has_dependents"
    assert cascaded.status_code == 200
    assert Extension.objects.get(name="dep-child").status == "not_loaded"


def test_a_failed_load_through_the_api_reports_the_code_and_keeps_the_traceback(extensions_root):
    install_fixture(extensions_root, "initialize_raises")
    extension_discover(load_new=False)
    client = token_client(make_user("superuser", None))

    response = client.post("/api/extensions/initialize-raises/load")
    detail = client.get("/api/extensions/initialize-raises/").json()

    assert response.status_code == 409
    assert response.json()["code"] == "extension_initialize_failed"
    assert detail["status"] == "error"
    assert "RuntimeError: database unreachable" in detail["error_traceback"]


def test_extension_health_is_provided_for_every_extension(client_as):
    client = client_as("viewer")

    healthy = client.get(f"{HELLO}/health")
    extension_unload(name="hello-extension")
    unhealthy = client.get(f"{HELLO}/health")

    assert healthy.status_code == 200
    assert healthy.json()["healthy"] is True
    assert healthy.json()["details"]["greeting_count"] == 0
    assert unhealthy.status_code == 200
    assert unhealthy.json()["healthy"] is False
    assert unhealthy.json()["error"] == "the extension is not loaded"
