"""Mounted extension endpoints: /api/extensions/{name}/<its routes>, exactly as their manifests declare.

Each process builds a route table from its registry (rebuilt when the registry
changes). A route answers only while its extension is loaded here, only for
its declared methods, and only to callers its declared access rule admits.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from extensions_core.api.errors import error_body
from extensions_core.exceptions import ExtensionNotFoundError
from extensions_core.manifest import Endpoint
from extensions_core.models import Extension
from extensions_core.permissions import can_view_extension, endpoint_access
from extensions_core.registry import LoadedExtension, registry
from extensions_core.sdk import RequestError

logger = logging.getLogger(__name__)
PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class MountedRoute:
    """One declared endpoint of a loaded extension, with its view."""

    extension: LoadedExtension
    owner: Extension  # an unsaved stand-in (pk, name) to key permission checks without a query
    endpoint: Endpoint
    pattern: re.Pattern[str]
    handlers: dict[str, Any]


def compile_path(path: str) -> re.Pattern[str]:
    """Turn "/hello/{name}" into a regex matching one non-empty segment per parameter."""
    parts = PARAMETER.split(path)
    regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
    return re.compile(f"^{regex}$")


class RouteTable:
    """The mounted routes of this process, rebuilt when the registry changes."""

    def __init__(self) -> None:
        self.key: int | None = None
        self.routes: dict[str, list[MountedRoute]] = {}
        self.lock = threading.Lock()

    def for_extension(self, name: str) -> list[MountedRoute]:
        key = registry.version
        if key != self.key:
            with self.lock:
                self.routes = {name: self._build(loaded) for name, loaded in dict(registry.entries).items()}
                self.key = key
        return self.routes.get(name, [])

    @staticmethod
    def _build(loaded: LoadedExtension) -> list[MountedRoute]:
        views = {}
        for route in loaded.instance.get_routes():
            for method in route.methods:
                views[(route.path, method)] = route.handler
        owner = Extension(pk=loaded.extension_id, name=loaded.name)
        return [
            MountedRoute(
                extension=loaded,
                owner=owner,
                endpoint=endpoint,
                pattern=compile_path(endpoint.path),
                handlers={method: views[(endpoint.path, method)] for method in endpoint.methods},
            )
            for endpoint in loaded.manifest.endpoints
        ]


route_table = RouteTable()


class ExtensionEndpointView(APIView):
    """Dispatch a request to the extension route its path matches, after the route's access rule."""

    permission_classes = [AllowAny]  # each route's own rule is applied in handle()

    # OPTIONS would describe routes before any access check.
    metadata_class = None
    # Set once the caller was admitted: only then do Allow and the browsable API show declared methods.
    admitted_routes: list[MountedRoute] | None = None

    @property
    def allowed_methods(self) -> list[str]:
        if not self.admitted_routes:
            return super().allowed_methods
        return [*sorted({method for route in self.admitted_routes for method in route.handlers}), "OPTIONS"]

    def get_view_name(self) -> str:
        kwargs = getattr(self, "kwargs", {}) or {}
        return f"{kwargs.get('name', 'Extension')} {kwargs.get('path', '')}".strip()

    def get_view_description(self, html: bool = False) -> str:
        descriptions = [
            route.endpoint.description for route in self.admitted_routes or () if route.endpoint.description
        ]
        return "; ".join(descriptions)

    def handle(self, request: Request, name: str, path: str) -> Response:
        loaded = registry.get(name)
        if loaded is None:
            return self._not_loaded(request, name)
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"  # answered like GET, without the body (finalize_response)
        routes = route_table.for_extension(name)
        matches = [(route, route.pattern.match(path)) for route in routes]
        candidates = [route for route, match in matches if match]
        route, parameters = next(
            ((item, match) for item, match in matches if match and method in item.handlers), (None, None)
        )
        extension = routes[0].owner if routes else Extension(pk=loaded.extension_id, name=name)
        is_public = route.endpoint.is_public if route else any(item.endpoint.is_public for item in candidates)
        if not is_public:
            self._admit(request, extension, route)
        self.admitted_routes = candidates
        if route is None:
            if candidates:
                allowed = sorted({m for item in candidates for m in item.handlers})
                raise MethodNotAllowed(method, detail=f"{method} is not declared here; allowed: {', '.join(allowed)}")
            return Response(error_body("route_not_found", f'Extension "{name}" declares no route {path}'), status=404)
        return self._call(route, method, request, parameters.groupdict())

    def _not_loaded(self, request: Request, name: str) -> Response:
        """404 for a route of an extension that is not loaded: "not loaded" to those who may see it."""
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        extension = Extension.objects.filter(name=name).first()
        if extension is None or not can_view_extension(request.user, extension):
            raise ExtensionNotFoundError(name)
        return Response(
            error_body(
                "extension_not_loaded",
                f'Extension "{name}" is {extension.get_status_display()}; its routes answer while it is active',
            ),
            status=404,
        )

    def _admit(self, request: Request, extension: Extension, route: MountedRoute | None) -> None:
        user = request.user
        if not user.is_authenticated:
            raise NotAuthenticated()
        verdict = endpoint_access(user, extension, route.endpoint if route else None)
        if verdict == "invisible":
            raise ExtensionNotFoundError(extension.name)
        if verdict == "forbidden":
            roles = ", ".join(route.endpoint.permissions)
            raise PermissionDenied(
                "Calling this endpoint needs use_extension on the extension"
                + (f" and one of the roles: {roles}" if roles else "")
            )

    def _call(self, route: MountedRoute, method: str, request: Request, parameters: dict[str, str]) -> Response:
        handler = route.handlers[method]
        name = route.extension.name
        try:
            result = handler(request, **parameters)
            if inspect.isawaitable(result):
                result = async_to_sync(_awaited)(result)
        except RequestError as error:
            return Response(error_body(error.code, error.message), status=error.status_code)
        except Exception:
            logger.exception('Extension "%s": %s %s raised', name, method, route.endpoint.path)
            return Response(
                error_body(
                    "extension_endpoint_failed",
                    f'Extension "{name}": {method} {route.endpoint.path} failed; the error is in the server log',
                ),
                status=500,
            )
        if isinstance(result, HttpResponseBase):
            return result
        return Response(result)

    get = post = put = patch = delete = head = handle

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "HEAD" and hasattr(response, "render"):
            response.render()
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


ExtensionEndpointView = extend_schema(exclude=True)(ExtensionEndpointView)
