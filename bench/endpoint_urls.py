"""URLconf of bench/endpoint.py: karen.urls plus a static DRF view at /bench/static.

The static view is the baseline of the mounted extension endpoint
/api/extensions/hello-extension/hello: the same DRF stack (the project's default
authentication classes, throttles and exception handler), `IsAuthenticated`,
and the same JSON shape as the hello extension's `/hello`, without the
extension machinery (registry look-up, route table, per-extension access rule).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from karen.urls import handler404, handler500  # noqa: F401  (the project's JSON 404/500)
from karen.urls import urlpatterns as karen_urlpatterns

_MANIFEST = json.loads(
    (Path(__file__).resolve().parent.parent / "extensions" / "hello-extension" / "extension.json").read_text()
)


class StaticHelloView(APIView):
    """GET: what hello-extension's /hello answers, served by a plain APIView."""

    permission_classes = [IsAuthenticated]
    greeting_count = 0
    _count_lock = threading.Lock()

    def get(self, request: Request) -> Response:
        with self._count_lock:
            StaticHelloView.greeting_count += 1
            number = StaticHelloView.greeting_count
        return Response(
            {
                "message": "Hello from the AI Karen Extension System!",
                "extension": _MANIFEST["name"],
                "version": _MANIFEST["version"],
                "greeting_number": number,
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )


# After the project's patterns, as any view added next to them would be.
urlpatterns = [*karen_urlpatterns, path("bench/static", StaticHelloView.as_view(), name="bench-static")]
