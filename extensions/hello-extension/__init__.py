"""Hello Extension: the first system's greeting example, on the Karen SDK.

GET /api/extensions/hello-extension/hello          a greeting
GET /api/extensions/hello-extension/hello/{name}   a personal greeting (1-50 characters)
GET /api/extensions/hello-extension/health         greeting count and uptime of this process
/admin/extensions/hello-extension/hello            the "Hello Dashboard" page (greeting count, uptime, a greeting form)
Dashboard widget "greetings"                       greeting count and uptime
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

from extensions_core.sdk import BaseExtension, RequestError, page, route, widget

MAX_NAME_LENGTH = 50


class HelloExtension(BaseExtension):
    """Greets callers and counts the greetings it served."""

    def initialize(self) -> None:
        self.greeting_count = 0
        self.start_time = datetime.now(UTC)
        self._count_lock = threading.Lock()
        self.logger.info("Hello Extension initialized")

    def shutdown(self) -> None:
        self.logger.info("Hello Extension served %d greetings", self.greeting_count)

    def _count(self) -> int:
        with self._count_lock:
            self.greeting_count += 1
            return self.greeting_count

    @route("/hello", methods=["GET"])
    def hello(self, request) -> dict:
        """Return a hello message."""
        return {
            "message": "Hello from the AI Karen Extension System!",
            "extension": self.manifest.name,
            "version": self.manifest.version,
            "greeting_number": self._count(),
            "timestamp": datetime.now(UTC).isoformat(),
        }

    @route("/hello/{name}", methods=["GET"])
    def hello_name(self, request, name: str) -> dict:
        """Return a personalized hello message; the name must be 1-50 characters, not blank."""
        if not name or not name.strip():
            raise RequestError("Name cannot be empty", code="name_empty")
        if len(name) > MAX_NAME_LENGTH:
            raise RequestError(
                f"Name too long: at most {MAX_NAME_LENGTH} characters (got {len(name)})", code="name_too_long"
            )
        return {
            "message": f"Hello, {name}! Welcome to the AI Karen Extension System!",
            "extension": self.manifest.name,
            "version": self.manifest.version,
            "greeting_number": self._count(),
            "personalized": True,
            "timestamp": datetime.now(UTC).isoformat(),
        }

    def health_check(self) -> dict:
        uptime = datetime.now(UTC) - self.start_time
        return {
            "healthy": True,
            "greeting_count": self.greeting_count,
            "uptime_seconds": round(uptime.total_seconds(), 3),
            "start_time": self.start_time.isoformat(),
            "process_id": os.getpid(),
        }

    def _uptime_seconds(self) -> float:
        return round((datetime.now(UTC) - self.start_time).total_seconds(), 1)

    @page("/hello")
    def hello_page(self, request) -> dict:
        """The Hello Dashboard: counts, uptime, and a form that asks this extension's own /hello/{name}."""
        context = {"greeting_count": self.greeting_count, "uptime_seconds": self._uptime_seconds(), "name": ""}
        name = request.GET.get("name")
        if name is not None:
            context["name"] = name
            try:
                context["greeting"] = self.hello_name(request, name)
            except RequestError as error:
                context["error"] = error.message
            context["greeting_count"] = self.greeting_count
        return context

    @widget("greetings")
    def greetings_widget(self, request) -> dict:
        """The dashboard box: greetings served by this process and its uptime."""
        return {"greeting_count": self.greeting_count, "uptime_seconds": self._uptime_seconds()}
