"""Per-request middleware: the request's id, refusing unusable request text, keeping this process's registry in step."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from extensions_core.exceptions import ManifestProblem
from extensions_core.log_context import request_id_bind
from extensions_core.services import registry_sync
from extensions_core.validation import text_problem

logger = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Give each request an id (the client's X-Request-ID when usable, else a new one), on its log lines and
    in the response's X-Request-ID header, so a client's report, the logs and the audit log can be joined."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Kept until the request finishes (log_context.request_finished), not only through the middleware:
        # Django logs a 4xx or 5xx after the middleware chain has returned.
        request.request_id = request_id_bind(request.headers.get("X-Request-ID"))
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class RegistrySyncMiddleware:
    """Apply extension changes made by any process before handling the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            registry_sync()
        except DatabaseError:
            # The request is still served with the extensions already loaded; the
            # next request retries. Logged, so a lasting outage is visible.
            logger.exception("Could not check the extension registry against the database")
        return self.get_response(request)


class RequestTextMiddleware:
    """Answer 400 before any view for a path or query parameter holding a NUL character or a lone surrogate.

    No database stores them in text (PostgreSQL refuses NUL outright), so they
    would otherwise surface as a 500 in whichever query first used the value.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problems = [
            ManifestProblem(field, "invalid_query", f'"{field}" {message}')
            for field, value in [("(path)", request.path), *_query_items(request)]
            if (message := text_problem(value))
        ]
        if not problems:
            return self.get_response(request)
        message = "; ".join(str(problem) for problem in problems)
        if request.path.startswith("/api/"):
            body = {"code": "invalid_query", "message": message, "problems": [p.as_dict() for p in problems]}
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _query_items(request: HttpRequest) -> list[tuple[str, str]]:
    items = []
    for key, values in request.GET.lists():
        items.append((f"(query key {key!r})", key))
        items.extend((key, value) for value in values)
    return items
