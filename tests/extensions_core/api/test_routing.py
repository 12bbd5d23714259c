"""Every platform path reaches its own view; no extension route can shadow one (the first system's did)."""

from __future__ import annotations

import pytest
from django.urls import resolve

from extensions_core.api.endpoints import ExtensionEndpointView
from extensions_core.models import Extension
from tests.conftest import write_extension
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

# (method, path, the view's URL name) — DESIGN.md §4 management paths, with real names.
PLATFORM_PATHS = [
    ("GET", "/api/extensions/", "extension-list"),
    ("POST", "/api/extensions/discover", "extension-discover"),
    ("GET", "/api/extensions/system/health", "system-health"),
    ("GET", "/api/extensions/system/stats", "system-stats"),
    ("GET", "/api/extensions/background-tasks/", "task-list"),
    ("GET", "/api/extensions/background-tasks/shadow-probe/some_task", "task-detail"),
    ("GET", "/api/extensions/shadow-probe/", "extension-detail"),
    ("POST", "/api/extensions/shadow-probe/load", "extension-load"),
    ("POST", "/api/extensions/shadow-probe/unload", "extension-unload"),
    ("POST", "/api/extensions/shadow-probe/reload", "extension-reload"),
    ("POST", "/api/extensions/shadow-probe/enable", "extension-enable"),
    ("POST", "/api/extensions/shadow-probe/disable", "extension-disable"),
    ("GET", "/api/extensions/shadow-probe/health", "extension-health"),
    ("GET", "/api/extensions/shadow-probe/config", "extension-config"),
    ("PUT", "/api/extensions/shadow-probe/config", "extension-config"),
    ("GET", "/api/extensions/shadow-probe/schema", "extension-schema"),
    ("GET", "/api/schema/", "schema"),
    ("GET", "/api/docs/", "swagger-ui"),
    ("GET", "/api/redoc/", "redoc"),
    ("POST", "/api/auth/token", "auth-token"),
    ("POST", "/api/auth/token/revoke", "auth-token-revoke"),
]


@pytest.fixture
def shadow_probe(extensions_root):
    """An extension declaring every route that is allowed, as close to platform paths as it may get."""
    endpoints = [
        {"path": "/healthz", "methods": ["GET"], "public": True},
        {"path": "/system/health", "methods": ["GET"], "public": True},
        {"path": "/executions/active", "methods": ["GET"], "public": True},
        {"path": "/{anything}", "methods": ["GET", "POST", "PUT"], "public": True},
    ]
    code = (
        "from extensions_core.sdk import BaseExtension, route\n\n\n"
        "class Probe(BaseExtension):\n"
        "    @route('/healthz')\n"
        "    def a(self, request):\n"
        "        return {'from': 'extension'}\n\n"
        "    @route('/system/health')\n"
        "    def b(self, request):\n"
        "        return {'from': 'extension'}\n\n"
        "    @route('/executions/active')\n"
        "    def c(self, request):\n"
        "        return {'from': 'extension'}\n\n"
        "    @route('/{anything}', methods=['GET', 'POST', 'PUT'])\n"
        "    def d(self, request, anything):\n"
        "        return {'from': 'extension'}\n"
    )
    write_extension(extensions_root, "shadow-probe", api={"endpoints": endpoints}, code=code)
    from extensions_core.services import extension_discover

    extension_discover(load_new=True)
    assert Extension.objects.get(name="shadow-probe").status == "active"


@pytest.mark.parametrize(
    ("method", "path", "view_name"), PLATFORM_PATHS, ids=[f"{m} {p}" for m, p, _ in PLATFORM_PATHS]
)
def test_every_platform_path_resolves_to_its_own_view(shadow_probe, method, path, view_name):
    assert resolve(path.split("?")[0]).url_name == view_name


@pytest.mark.parametrize(
    ("method", "path", "view_name"), PLATFORM_PATHS, ids=[f"{m} {p}" for m, p, _ in PLATFORM_PATHS]
)
def test_every_platform_path_is_answered_by_its_own_view(shadow_probe, method, path, view_name):
    client = token_client(make_user("superuser", None))

    response = client.generic(method, path, data="{}", content_type="application/json")

    assert response.resolver_match.url_name == view_name
    body = response.json() if response.get("Content-Type", "").startswith("application/json") else {}
    assert body.get("from") != "extension"


def test_the_extension_still_gets_its_own_routes(shadow_probe):
    client = token_client(None)

    for path in ("/healthz", "/system/health", "/executions/active", "/whatever"):
        response = client.get(f"/api/extensions/shadow-probe{path}")
        assert response.resolver_match.func.view_class is ExtensionEndpointView
        assert response.json() == {"from": "extension"}


def test_platform_segments_cannot_be_extension_names(extensions_root):
    for reserved in ("system", "discover", "background-tasks"):
        write_extension(extensions_root, reserved)
    from extensions_core.services import extension_discover

    report = extension_discover(load_new=True)

    assert sorted((item.label, item.error.code) for item in report.problems) == [
        ("background-tasks", "manifest_reserved_name"),
        ("discover", "manifest_reserved_name"),
        ("system", "manifest_reserved_name"),
    ]
