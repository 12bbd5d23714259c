"""Exception handler: maps ExtensionError subclasses and DRF errors to status and one error body.

Body: {"code", "message", "problems"?: [{"field", "code", "message"}]}. The
status says who can fix it: the client (400), missing or invisible (404),
forbidden (403), wrong state (409). Unknown exceptions stay 500s for the logs.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from extensions_core.configuration import ConfigurationError
from extensions_core.exceptions import (
    ExecutionNotFoundError,
    ExtensionConflictError,
    ExtensionDependencyError,
    ExtensionError,
    ExtensionLoadError,
    ExtensionNotFoundError,
    ExtensionStateError,
    ManifestError,
    RegistryNotReadyError,
    TaskInputError,
    TaskNotFoundError,
    TaskStateError,
    TriggerNotFoundError,
)

STATUS_OF: list[tuple[type[ExtensionError], int]] = [
    (ExtensionNotFoundError, status.HTTP_404_NOT_FOUND),
    (TaskNotFoundError, status.HTTP_404_NOT_FOUND),
    (ExecutionNotFoundError, status.HTTP_404_NOT_FOUND),
    (TriggerNotFoundError, status.HTTP_404_NOT_FOUND),
    (TaskInputError, status.HTTP_400_BAD_REQUEST),
    (TaskStateError, status.HTTP_409_CONFLICT),
    (ManifestError, status.HTTP_400_BAD_REQUEST),
    (ConfigurationError, status.HTTP_400_BAD_REQUEST),
    (ExtensionStateError, status.HTTP_409_CONFLICT),
    (ExtensionDependencyError, status.HTTP_409_CONFLICT),
    (ExtensionConflictError, status.HTTP_409_CONFLICT),
    (ExtensionLoadError, status.HTTP_409_CONFLICT),
    (RegistryNotReadyError, status.HTTP_503_SERVICE_UNAVAILABLE),
]

DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid_input",
}


def error_body(code: str, message: str, problems: list[dict] | None = None) -> dict:
    """Return the one error body of the API."""
    body = {"code": code, "message": message}
    if problems:
        body["problems"] = problems
    return body


def status_of(error: ExtensionError) -> int:
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            return code
    return status.HTTP_400_BAD_REQUEST


def _validation_problems(detail, prefix: str = "") -> list[dict]:
    problems = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = f"{prefix}.{key}" if prefix else str(key)
            problems += _validation_problems(value, "" if key == "non_field_errors" else field)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                problems += _validation_problems(value, f"{prefix}[{index}]")
            else:
                problems += _validation_problems(value, prefix)
    else:
        problems.append({"field": prefix, "code": getattr(detail, "code", "invalid"), "message": str(detail)})
    return problems


def exception_handler(error: Exception, context: dict) -> Response | None:
    """DRF exception handler producing the platform's error body."""
    if isinstance(error, ExtensionError):
        return Response(error.as_dict(), status=status_of(error))
    if isinstance(error, RequestDataTooBig):
        from extensions_core.api.parsers import body_limit, too_large_message

        return Response(error_body("request_too_large", too_large_message(body_limit())), status=413)
    if isinstance(error, Http404):
        error = exceptions.NotFound()
    elif isinstance(error, DjangoPermissionDenied):
        error = exceptions.PermissionDenied()
    if not isinstance(error, exceptions.APIException):
        return None
    headers = {}
    if getattr(error, "auth_header", None):
        headers["WWW-Authenticate"] = error.auth_header
    if getattr(error, "wait", None):
        headers["Retry-After"] = str(int(error.wait))
    code = next((value for kind, value in DRF_CODES.items() if isinstance(error, kind)), "error")
    if isinstance(error, exceptions.ValidationError):
        problems = _validation_problems(error.detail)
        message = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
        body = error_body(code, message or "invalid input", problems)
    else:
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        body = error_body(code, str(detail))
    return Response(body, status=error.status_code, headers=headers)


def api_not_found(request, exception=None):
    """Django's 404 handler: the API's JSON error body under /api/, the usual page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", f"No API path {request.path}"), status=404)
    return page_not_found(request, exception)


def api_server_error(request):
    """Django's 500 handler: the API's JSON error body under /api/, the usual page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "The server failed; the error is in its log"), status=500)
    return server_error(request)
