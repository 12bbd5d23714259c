"""API routes. Order matters: platform paths come before the extension catch-all, and every
platform path is proven to reach its own view (tests/extensions_core/api/test_routing.py)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from extensions_core.api.background_tasks import (
    ActiveExecutionListView,
    EventEmitView,
    EventListView,
    ExecuteView,
    ExecutionCancelView,
    ExecutionDetailView,
    ExecutionListView,
    TaskHealthView,
    TaskStatsView,
    TriggerDetailView,
    TriggerListView,
)
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
TASKS = "extensions/background-tasks"
UUID_RE = r"(?P<execution_id>[0-9a-fA-F-]{32,36})"


def action(verb: str, method: str = "post"):
    return ExtensionViewSet.as_view({method: verb})


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script, so the CSP needs no exception.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("auth/token", TokenView.as_view(), name="auth-token"),
    path("auth/token/revoke", TokenRevokeView.as_view(), name="auth-token-revoke"),
    path("extensions/", ExtensionViewSet.as_view({"get": "list"}), name="extension-list"),
    path("extensions/discover", DiscoverView.as_view(), name="extension-discover"),
    path("extensions/system/health", SystemHealthView.as_view(), name="system-health"),
    path("extensions/system/stats", SystemStatsView.as_view(), name="system-stats"),
    path(f"{TASKS}/", TaskDefinitionViewSet.as_view({"get": "list"}), name="task-list"),
    # Fixed background-task paths before {extension}/{task}, which would otherwise swallow them.
    path(f"{TASKS}/executions", ExecutionListView.as_view(), name="execution-list"),
    path(f"{TASKS}/executions/active", ActiveExecutionListView.as_view(), name="execution-active"),
    re_path(rf"^{TASKS}/executions/{UUID_RE}$", ExecutionDetailView.as_view(), name="execution-detail"),
    re_path(rf"^{TASKS}/executions/{UUID_RE}/cancel$", ExecutionCancelView.as_view(), name="execution-cancel"),
    path(f"{TASKS}/events", EventListView.as_view(), name="event-list"),
    path(f"{TASKS}/events/emit", EventEmitView.as_view(), name="event-emit"),
    path(f"{TASKS}/events/triggers", TriggerListView.as_view(), name="trigger-list"),
    path(f"{TASKS}/events/triggers/<int:trigger_id>", TriggerDetailView.as_view(), name="trigger-detail"),
    path(f"{TASKS}/stats", TaskStatsView.as_view(), name="task-stats"),
    path(f"{TASKS}/health", TaskHealthView.as_view(), name="task-health"),
    re_path(
        rf"^{TASKS}/(?P<extension>{NAME_RE})/(?P<task>[a-z][a-z0-9_]*)$",
        TaskDefinitionViewSet.as_view({"get": "retrieve"}),
        name="task-detail",
    ),
    re_path(
        rf"^{TASKS}/(?P<extension>{NAME_RE})/(?P<task>[a-z][a-z0-9_]*)/execute$",
        ExecuteView.as_view(),
        name="task-execute",
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
