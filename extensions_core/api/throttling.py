"""Rate limits shared across processes through the cache (Redis in production, files embedded).

A fixed-window counter per client and scope: one atomic add-or-increment per
request, however high the rate (DRF's stock throttles rewrite the list of every
request of the window on each request, and lose counts under concurrency). A
client may send up to twice the rate across a window boundary.
"""

from __future__ import annotations

import time
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CounterRateThrottle(BaseThrottle):
    """Allow `rate` (e.g. "120/min") requests per window for each client of a scope."""

    scope = ""

    def get_rate(self) -> str | None:
        # Read at call time (DRF binds its rates at import), so a changed setting applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def client_key(self, request) -> str | None:
        """Who is counted; None exempts the request."""
        return self.get_ident(request)

    def allow_request(self, request, view) -> bool:
        rate = self.get_rate()
        client = self.client_key(request) if rate else None
        if client is None:
            return True
        count, period = rate.split("/")
        limit, duration = int(count), DURATIONS[period[0]]
        now = time.time()
        key = f"throttle:{self.scope}:{client}:{int(now // duration)}"
        try:
            seen = cache.incr(key)  # the common case: the window's counter exists
        except ValueError:
            seen = 1 if cache.add(key, 1, duration + 1) else cache.incr(key)
        self.retry_after = duration - (now % duration)
        return seen <= limit

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


class AnonRateThrottle(CounterRateThrottle):
    """Anonymous callers, per client address (rate "anon": KAREN_THROTTLE_ANON)."""

    scope = "anon"

    def client_key(self, request) -> str | None:
        return None if request.user and request.user.is_authenticated else self.get_ident(request)


class UserRateThrottle(CounterRateThrottle):
    """Authenticated callers, per user (rate "user": KAREN_THROTTLE_USER)."""

    scope = "user"

    def client_key(self, request) -> str | None:
        return str(request.user.pk) if request.user and request.user.is_authenticated else None


class LoginRateThrottle(CounterRateThrottle):
    """Password attempts, per client address (rate "login": KAREN_THROTTLE_LOGIN)."""

    scope = "login"


def throttle_login_view(view):
    """Wrap a Django login view (the admin's) so password POSTs share the login rate limit."""

    @wraps(view)
    def throttled(request, *args, **kwargs):
        if request.method == "POST":
            throttle = LoginRateThrottle()
            if not throttle.allow_request(request, None):
                wait = int(throttle.wait() or 60)
                response = HttpResponse(
                    f"Too many login attempts; try again in {wait} seconds.", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return throttled
