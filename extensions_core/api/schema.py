"""The OpenAPI schema: drf-spectacular's, plus every loaded extension's declared endpoints.

Extension endpoints appear under their extension's tag with their declared
description; the top-level `x-extensions` describes each loaded extension.
Both follow the registry, so the schema changes as extensions load and
unload, and show only the extensions the requesting user may see.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator

from extensions_core.api.endpoints import PARAMETER
from extensions_core.manifest import Endpoint
from extensions_core.models import Extension
from extensions_core.permissions import can_view_extension
from extensions_core.registry import LoadedExtension, registry

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_RESPONSES = {
    "400": "Bad input.",
    "401": "No or bad credentials.",
    "403": "Authenticated, but not allowed (needs use_extension and one of the roles).",
    "404": "No such extension or route, or not visible to the caller.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "500": "The extension's view failed.",
}
THROTTLED = {
    "description": "Too many requests; retry after the Retry-After header's seconds.",
    "content": {"application/json": {"schema": ERROR_REF}},
}


def document_throttling(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: every operation can be throttled (shared rate limits), so each documents 429."""
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operation.setdefault("responses", {}).setdefault("429", THROTTLED)
    return result


def document_closed_request_bodies(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: request bodies that refuse unknown keys say so (additionalProperties: false)."""
    from extensions_core.api.serializers import NoUnknownKeys

    closed = set()
    pending = list(NoUnknownKeys.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        name = kind.__name__.removesuffix("Serializer")
        closed |= {f"{name}Request", f"Patched{name}Request"}
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name in closed and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Document ApiTokenAuthentication as `Authorization: Token <token>`."""

    target_class = "extensions_core.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'API token with the prefix "Token": `Authorization: Token karen_...`',
        }


def operation_id(extension: str, path: str, method: str) -> str:
    """Return the OpenAPI operationId of *method* *path* of *extension* (the admin links to it in the docs)."""
    slug = PARAMETER.sub(r"by_\1", path).strip("/").replace("/", "_").replace("-", "_") or "root"
    return f"{extension.replace('-', '_')}_{slug}_{method.lower()}"


def _operation(loaded: LoadedExtension, endpoint: Endpoint, method: str) -> dict[str, Any]:
    name = loaded.name
    roles = ", ".join(endpoint.permissions)
    access = (
        "Public: no credentials needed."
        if endpoint.is_public
        else ("Needs use_extension" + (f" and one of the roles: {roles}." if roles else "."))
    )
    operation: dict[str, Any] = {
        "operationId": operation_id(name, endpoint.path, method),
        "summary": endpoint.description or f"{method} {endpoint.path}",
        "description": f"{endpoint.description}\n\n{access}".strip(),
        "tags": [name, *[tag for tag in endpoint.tags if tag != name]],
        "parameters": [
            {"name": parameter, "in": "path", "required": True, "schema": {"type": "string"}}
            for parameter in PARAMETER.findall(endpoint.path)
        ],
        "responses": {
            "200": {"description": "What the extension answers.", "content": {"application/json": {"schema": {}}}},
            **{
                code: {"description": text, "content": {"application/json": {"schema": ERROR_REF}}}
                for code, text in ERROR_RESPONSES.items()
                if not (endpoint.is_public and code in ("401", "403"))
            },
        },
    }
    if endpoint.is_public:
        operation["security"] = [{}]
    if method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
    return operation


def extension_paths(loaded: LoadedExtension) -> dict[str, dict[str, Any]]:
    """Return the OpenAPI path items of one loaded extension's declared endpoints."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in loaded.manifest.endpoints:
        item = paths.setdefault(f"/api/extensions/{loaded.name}{endpoint.path}", {})
        for method in endpoint.methods:
            item[method.lower()] = _operation(loaded, endpoint, method)
    return paths


def extension_summary(loaded: LoadedExtension) -> dict[str, Any]:
    manifest = loaded.manifest
    return {
        "display_name": manifest.display_name,
        "version": manifest.version,
        "description": manifest.description,
        "author": manifest.author,
        "category": manifest.category,
        "status": Extension.Status.ACTIVE.value,
        "endpoints": sum(len(endpoint.methods) for endpoint in manifest.endpoints),
    }


def visible_loaded(request) -> list[LoadedExtension]:
    """Return the extensions loaded in this process that the request's user may see (all without a request)."""
    loaded = [registry.entries[name] for name in sorted(registry.entries)]
    if request is None:
        return loaded
    user = request.user
    return [item for item in loaded if can_view_extension(user, Extension(pk=item.extension_id, name=item.name))]


class PlatformSchemaGenerator(SchemaGenerator):
    """drf-spectacular's generator, extended with the loaded extensions' endpoints."""

    def get_schema(self, request=None, public: bool = False) -> dict[str, Any]:
        schema = super().get_schema(request=request, public=public)
        extensions = visible_loaded(request)
        for loaded in extensions:
            schema["paths"].update(extension_paths(loaded))
        tags = schema.setdefault("tags", [])
        tags.extend(
            {"name": loaded.name, "description": f"{loaded.manifest.display_name}: {loaded.manifest.description}"}
            for loaded in extensions
        )
        schema["x-extensions"] = {loaded.name: extension_summary(loaded) for loaded in extensions}
        return schema


def extension_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the schema of extension *name* alone (its routes and its health), cut from *schema*."""
    prefix = f"/api/extensions/{name}/"
    paths = {path: item for path, item in schema["paths"].items() if path.startswith(prefix)}
    health = schema["paths"].get("/api/extensions/{name}/health")
    if health:
        paths[f"{prefix}health"] = {
            method: {
                **operation,
                "operationId": f"{name.replace('-', '_')}_health",
                "parameters": [p for p in operation.get("parameters", []) if p.get("name") != "name"],
                "tags": [name],
            }
            for method, operation in health.items()
        }
    return {
        **schema,
        "info": {**schema["info"], "title": f"{name} (Karen extension)"},
        "paths": paths,
        "tags": [tag for tag in schema.get("tags", []) if tag["name"] == name],
        "x-extensions": {key: value for key, value in schema.get("x-extensions", {}).items() if key == name},
    }
