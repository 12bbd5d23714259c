"""API routes. Order matters: platform paths come before the extension catch-all, and every
platform path is proven to reach its own view (tests/extensions_core/api/test_routing.py)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from extensions_core.api.endpoints import ExtensionEndpointView
from extensions_core.api.schema_views import ExtensionSchemaView, SchemaView
from extensions_core.api.views import (
    DiscoverView,
    ExtensionViewSet,
    SystemHealthView,
    SystemStatsView,
    TaskDefinitionViewSet,
    TokenRevokeView,
    TokenView,
)

NAME_RE = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
NAME = rf"(?P<name>{NAME_RE})"


def action(verb: str, method: str = "post"):
    return ExtensionViewSet.as_view({method: verb})


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("auth/token", TokenView.as_view(), name="auth-token"),
    path("auth/token/revoke", TokenRevokeView.as_view(), name="auth-token-revoke"),
    path("extensions/", ExtensionViewSet.as_view({"get": "list"}), name="extension-list"),
    path("extensions/discover", DiscoverView.as_view(), name="extension-discover"),
    path("extensions/system/health", SystemHealthView.as_view(), name="system-health"),
    path("extensions/system/stats", SystemStatsView.as_view(), name="system-stats"),
    path("extensions/background-tasks/", TaskDefinitionViewSet.as_view({"get": "list"}), name="task-list"),
    re_path(
        rf"^extensions/background-tasks/(?P<extension>{NAME[len('(?P<name>') : -1]})/(?P<task>[a-z][a-z0-9_]*)$",
        TaskDefinitionViewSet.as_view({"get": "retrieve"}),
        name="task-detail",
    ),
    re_path(rf"^extensions/{NAME}/$", ExtensionViewSet.as_view({"get": "retrieve"}), name="extension-detail"),
    re_path(rf"^extensions/{NAME}/load$", action("load"), name="extension-load"),
    re_path(rf"^extensions/{NAME}/unload$", action("unload"), name="extension-unload"),
    re_path(rf"^extensions/{NAME}/reload$", action("reload"), name="extension-reload"),
    re_path(rf"^extensions/{NAME}/enable$", action("enable"), name="extension-enable"),
    re_path(rf"^extensions/{NAME}/disable$", action("disable"), name="extension-disable"),
    re_path(rf"^extensions/{NAME}/health$", action("health", "get"), name="extension-health"),
    re_path(
        rf"^extensions/{NAME}/config$",
        ExtensionViewSet.as_view({"get": "config", "put": "update_config"}),
        name="extension-config",
    ),
    re_path(rf"^extensions/{NAME}/schema$", ExtensionSchemaView.as_view(), name="extension-schema"),
    re_path(rf"^extensions/{NAME}(?P<path>/.+)$", ExtensionEndpointView.as_view(), name="extension-endpoint"),
]
