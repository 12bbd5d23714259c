"""Rate limits on login attempts, shared across processes through the cache (Redis in production)."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class LoginRateThrottle(SimpleRateThrottle):
    """Limit password attempts per client address (rate "login": KAREN_THROTTLE_LOGIN)."""

    scope = "login"

    def get_rate(self) -> str | None:
        # Read at call time (DRF binds THROTTLE_RATES at import), so a changed setting applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def throttle_login_view(view):
    """Wrap a Django login view (the admin's) so password POSTs share the login rate limit."""
    from functools import wraps

    from django.http import HttpResponse

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
