"""Schema downloads: the platform's (YAML or ?format=json) and one extension's alone."""

from __future__ import annotations

from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from extensions_core.api.schema import PlatformSchemaGenerator, extension_schema
from extensions_core.api.views import NAME, errors
from extensions_core.selectors import extension_get_for_user

DOWNLOAD = OpenApiParameter(
    "download", bool, description="Answer as an attachment (karen-extensions.yaml / .json) instead of inline."
)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema of the platform and the extensions the caller may see."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args, **kwargs) -> Response:
        response = super().get(request, *args, **kwargs)
        return _maybe_attachment(request, response, "karen-extensions")


class ExtensionSchemaView(SpectacularAPIView):
    """The OpenAPI schema of one extension alone."""

    # YAML by default; JSON for ?format=json or an Accept of application/json (or the OpenAPI JSON type).
    renderer_classes = [OpenApiYamlRenderer, OpenApiYamlRenderer2, OpenApiJsonRenderer, OpenApiJsonRenderer2]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        # Errors keep the API's JSON body, whatever format the schema was asked in.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        operation_id="extensions_schema",
        summary="Download the OpenAPI schema of one extension alone",
        parameters=[NAME, DOWNLOAD],
        responses={
            (200, "application/vnd.oai.openapi"): dict,
            (200, "application/json"): dict,
            **errors(401, 404),
        },
        tags=["extensions"],
    )
    def get(self, request: Request, name: str) -> Response:
        extension_get_for_user(request.user, name)
        generator = PlatformSchemaGenerator(urlconf=self.urlconf, api_version=self.api_version)
        schema = extension_schema(generator.get_schema(request=request, public=self.serve_public), name)
        return _maybe_attachment(request, Response(schema), name)


def _maybe_attachment(request: Request, response: Response, stem: str) -> Response:
    if request.query_params.get("download") in ("1", "true", "yes"):
        extension = "json" if request.query_params.get("format") == "json" else "yaml"
        response["Content-Disposition"] = f'attachment; filename="{stem}.{extension}"'
    return response
