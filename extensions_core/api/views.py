"""Management viewsets: authorize, call a selector or service, serialize."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import status, viewsets
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from extensions_core.api.serializers import (
    ConfigUpdateSerializer,
    DiscoverySerializer,
    ErrorSerializer,
    ExtensionConfigSerializer,
    ExtensionDetailSerializer,
    ExtensionHealthSerializer,
    ExtensionSerializer,
    LifecycleQuerySerializer,
    SystemHealthSerializer,
    SystemStatsSerializer,
    TaskDefinitionSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from extensions_core.api.throttling import LoginRateThrottle, login_failures
from extensions_core.configuration import effective_config
from extensions_core.health import extension_health, system_health, system_stats
from extensions_core.manifest import Manifest
from extensions_core.models import Extension
from extensions_core.permissions import UserPolicy, can_manage_extension
from extensions_core.selectors import (
    extension_get_for_user,
    extension_list_for_user,
    task_definition_get_for_user,
    task_definition_list_for_user,
)
from extensions_core.services import (
    extension_configure,
    extension_disable,
    extension_discover,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Document the error body for each status in *codes*."""
    return {
        (code, "application/json"): OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code]) for code in codes
    }


DESCRIPTIONS = {
    400: "Bad input: see problems.",
    401: "No or bad credentials.",
    403: "Authenticated, but not allowed.",
    404: "No such extension, or not visible to the caller.",
    409: "The extension is not in a state that allows this.",
}
NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Extension name.", pattern=NAME_PATTERN)
CASCADE = OpenApiParameter(
    "cascade", bool, OpenApiParameter.QUERY, description="Also unload the extensions that depend on this one."
)


def lifecycle_schema(verb: str, *, cascade: bool = False):
    return extend_schema(
        operation_id=f"extensions_{verb}",
        summary=f"{verb.capitalize()} an extension in every process",
        parameters=[NAME, *([CASCADE] if cascade else [])],
        request=None,
        responses={200: ExtensionDetailSerializer, **errors(401, 403, 404, 409)},
        tags=["extensions"],
    )


class ExtensionViewSet(viewsets.GenericViewSet):
    """Extensions the caller may see, and what it may do with them."""

    serializer_class = ExtensionSerializer
    lookup_field = "name"

    def get_queryset(self):
        return extension_list_for_user(self.request.user)

    def visible(self, name: str) -> Extension:
        return extension_get_for_user(self.request.user, name)

    def managed(self, name: str) -> Extension:
        extension = self.visible(name)
        if not can_manage_extension(self.request.user, extension):
            raise PermissionDenied("You may see this extension, but not manage it (needs manage_extension).")
        return extension

    def detail_response(self, extension: Extension) -> Response:
        return Response(ExtensionDetailSerializer(extension).data)

    @extend_schema(
        operation_id="extensions_list",
        summary="List the extensions you may see",
        parameters=[
            OpenApiParameter("status", str, enum=Extension.Status.values, description="Only this status."),
            OpenApiParameter("category", str, description="Only this category."),
        ],
        responses={
            200: ExtensionSerializer(many=True),
            **errors(400, 401),
            (404, "application/json"): OpenApiResponse(ErrorSerializer, description="No such page."),
        },
        tags=["extensions"],
    )
    def list(self, request: Request) -> Response:
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in Extension.Status.values:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"status": [f"must be one of {', '.join(Extension.Status.values)}"]})
        rows = extension_list_for_user(
            request.user, status=status_filter, category=request.query_params.get("category")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ExtensionSerializer(page, many=True).data)

    @extend_schema(
        operation_id="extensions_retrieve",
        summary="One extension: manifest, status, error, endpoints, tasks",
        parameters=[NAME],
        responses={200: ExtensionDetailSerializer, **errors(401, 404)},
        tags=["extensions"],
    )
    def retrieve(self, request: Request, name: str) -> Response:
        return self.detail_response(self.visible(name))

    @lifecycle_schema("load")
    def load(self, request: Request, name: str) -> Response:
        self.managed(name)
        return self.detail_response(extension_load(name=name, actor=UserPolicy(request.user)))

    @lifecycle_schema("unload", cascade=True)
    def unload(self, request: Request, name: str) -> Response:
        self.managed(name)
        cascade = LifecycleQuerySerializer(data=request.query_params)
        cascade.is_valid(raise_exception=True)
        return self.detail_response(
            extension_unload(name=name, cascade=cascade.validated_data["cascade"], actor=UserPolicy(request.user))
        )

    @lifecycle_schema("reload")
    def reload(self, request: Request, name: str) -> Response:
        self.managed(name)
        return self.detail_response(extension_reload(name=name, actor=UserPolicy(request.user)))

    @lifecycle_schema("enable")
    def enable(self, request: Request, name: str) -> Response:
        self.managed(name)
        return self.detail_response(extension_enable(name=name, actor=UserPolicy(request.user)))

    @lifecycle_schema("disable", cascade=True)
    def disable(self, request: Request, name: str) -> Response:
        self.managed(name)
        cascade = LifecycleQuerySerializer(data=request.query_params)
        cascade.is_valid(raise_exception=True)
        return self.detail_response(
            extension_disable(name=name, cascade=cascade.validated_data["cascade"], actor=UserPolicy(request.user))
        )

    @extend_schema(
        operation_id="extensions_health",
        summary="Health of one extension (provided for every extension)",
        description=(
            "`healthy` is false when the extension is not loaded, fails to load in this process, or its "
            "health_check() raises, times out or says so; `error` says why. The status is 200 either way: "
            "the report itself succeeded."
        ),
        parameters=[NAME],
        responses={200: ExtensionHealthSerializer, **errors(401, 404)},
        tags=["extensions"],
    )
    def health(self, request: Request, name: str) -> Response:
        return Response(extension_health(self.visible(name)))

    @extend_schema(
        operation_id="extensions_config_retrieve",
        summary="The extension's configuration",
        parameters=[NAME],
        responses={200: ExtensionConfigSerializer, **errors(401, 403, 404)},
        tags=["extensions"],
    )
    def config(self, request: Request, name: str) -> Response:
        return Response(self.config_body(self.managed(name)))

    @extend_schema(
        operation_id="extensions_config_update",
        summary="Replace the extension's configuration (validated against its settings schema)",
        parameters=[NAME],
        request=ConfigUpdateSerializer,
        responses={200: ExtensionConfigSerializer, **errors(400, 401, 403, 404)},
        tags=["extensions"],
    )
    def update_config(self, request: Request, name: str) -> Response:
        self.managed(name)
        body = ConfigUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(self.config_body(extension_configure(name=name, config=body.validated_data["config"])))

    @staticmethod
    def config_body(extension: Extension) -> dict:
        manifest = Manifest.from_document(extension.manifest) if extension.manifest else None
        return {
            "config": extension.config,
            "effective": effective_config(manifest, extension.config) if manifest else extension.config,
            "schema": manifest.settings_schema if manifest else None,
            "config_version": extension.config_version,
        }


class DiscoverView(APIView):
    @extend_schema(
        operation_id="extensions_discover",
        summary="Rescan extension folders and installed packages",
        request=None,
        responses={200: DiscoverySerializer, **errors(401, 403)},
        tags=["extensions"],
    )
    def post(self, request: Request) -> Response:
        if not can_manage_extension(request.user):
            raise PermissionDenied("Discovery needs manage_extension on all extensions.")
        return Response(extension_discover().as_dict())


class SystemHealthView(APIView):
    @extend_schema(
        operation_id="system_health",
        summary="Database, broker, workers, beat and extensions",
        description=(
            "`status` is ok when every component is, degraded when the broker, workers or beat are not, "
            "down when the database is unreachable. 200 unless down (then 503: this process cannot serve)."
        ),
        responses={
            200: SystemHealthSerializer,
            503: OpenApiResponse(SystemHealthSerializer, description="The database is unreachable."),
            **errors(401),
        },
        tags=["system"],
    )
    def get(self, request: Request) -> Response:
        report = system_health(request.user)
        return Response(report, status=503 if report["status"] == "down" else 200)


class SystemStatsView(APIView):
    @extend_schema(
        operation_id="system_stats",
        summary="Counts of the extensions you may see, by status, category and capability",
        responses={200: SystemStatsSerializer, **errors(401)},
        tags=["system"],
    )
    def get(self, request: Request) -> Response:
        return Response(system_stats(request.user))


class TokenView(APIView):
    """Trade a username and password for an API token (rate limited per client)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Create an API token from a username and password",
        request=TokenRequestSerializer,
        responses={201: TokenSerializer, **errors(400, 401)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["username"]
        wait = login_failures.wait_before_next(username)
        if wait is not None:
            raise Throttled(wait=wait, detail="Too many failed attempts for this username; try again later.")
        user = authenticate(request, username=username, password=body.validated_data["password"])
        if user is None or not user.is_active:
            login_failures.record(username)
            raise AuthenticationFailed("Wrong username or password.")
        instance, token = AuthToken.objects.create(
            user, expiry=timezone.timedelta(days=body.validated_data["expires_days"])
        )
        return Response({"token": token, "expiry": instance.expiry}, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"


class TokenRevokeView(APIView):
    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke the token this request authenticated with",
        request=None,
        responses={204: None, **errors(400, 401)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.auth, AuthToken):
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"token": ["this request did not authenticate with a token"]})
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskDefinitionViewSet(viewsets.GenericViewSet):
    """Background task definitions the caller may see."""

    serializer_class = TaskDefinitionSerializer

    def get_queryset(self):
        return task_definition_list_for_user(self.request.user)

    @extend_schema(
        operation_id="tasks_list",
        summary="List the task definitions you may see",
        parameters=[OpenApiParameter("extension", str, description="Only this extension's tasks.")],
        responses={
            200: TaskDefinitionSerializer(many=True),
            **errors(401),
            (404, "application/json"): OpenApiResponse(ErrorSerializer, description="No such page."),
        },
        tags=["background-tasks"],
    )
    def list(self, request: Request) -> Response:
        rows = task_definition_list_for_user(request.user, extension=request.query_params.get("extension"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(TaskDefinitionSerializer(page, many=True).data)

    @extend_schema(
        operation_id="tasks_retrieve",
        summary="One task definition",
        parameters=[
            OpenApiParameter("extension", str, OpenApiParameter.PATH, pattern=NAME_PATTERN),
            OpenApiParameter("task", str, OpenApiParameter.PATH, pattern=r"^[a-z][a-z0-9_]*$"),
        ],
        responses={200: TaskDefinitionSerializer, **errors(401, 404)},
        tags=["background-tasks"],
    )
    def retrieve(self, request: Request, extension: str, task: str) -> Response:
        return Response(TaskDefinitionSerializer(task_definition_get_for_user(request.user, extension, task)).data)
