"""Per-request check that this process's extension registry matches the database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from extensions_core.services import registry_sync

logger = logging.getLogger(__name__)


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
