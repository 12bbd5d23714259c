"""Rate limits shared across processes through the cache (Redis in production, files embedded).

A fixed-window counter per client and scope: one atomic add-or-increment per
request, however high the rate (DRF's stock throttles rewrite the list of every
request of the window on each request, and lose counts under concurrency). A
client may send up to twice the rate across a window boundary.

When the cache cannot be reached the limits still hold, counted by each
process alone (so N web processes allow up to N times the rate) until the
cache answers again; no request fails or waits for it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Errors of an unreachable cache: Redis in production, the file cache of the embedded default.
CACHE_ERRORS = (RedisError, OSError)
# After the cache failed, counts stay in this process for this long before the cache is tried again.
CACHE_RETRY_SECONDS = 2.0


class WindowCounters:
    """Counters of fixed windows: shared in the cache, or kept by this process while the cache is unreachable."""

    def __init__(self) -> None:
        self.local: dict[str, tuple[int, float]] = {}
        self.lock = threading.Lock()
        self.cache_down_until = 0.0

    def increment(self, key: str, ttl: float) -> int:
        """Add one to the counter *key* (created with *ttl* seconds to live); return its new value."""
        now = time.monotonic()
        if now >= self.cache_down_until:
            try:
                value = self._shared(key, ttl)
            except CACHE_ERRORS as error:
                if not self.cache_down_until:
                    logger.warning(
                        "The cache is unreachable (%s: %s); rate limits are counted per process until it answers",
                        type(error).__name__,
                        error,
                    )
                self.cache_down_until = now + CACHE_RETRY_SECONDS
            else:
                if self.cache_down_until:
                    logger.warning("The cache answers again; rate limits are shared again")
                    self.cache_down_until = 0.0
                return value
        return self._local(key, ttl, now)

    def peek(self, key: str) -> int:
        """Return the counter *key* without changing it (0 when it does not exist)."""
        now = time.monotonic()
        if now >= self.cache_down_until:
            try:
                return int(cache.get(key) or 0)
            except CACHE_ERRORS:
                self.cache_down_until = now + CACHE_RETRY_SECONDS
        with self.lock:
            count, expires = self.local.get(key, (0, 0.0))
            return count if expires > now else 0

    def _shared(self, key: str, ttl: float) -> int:
        try:
            return cache.incr(key)  # the common case: the window's counter exists
        except ValueError:
            return 1 if cache.add(key, 1, ttl) else cache.incr(key)

    def _local(self, key: str, ttl: float, now: float) -> int:
        with self.lock:
            if len(self.local) > 10_000:
                self.local = {name: entry for name, entry in self.local.items() if entry[1] > now}
            count, expires = self.local.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + ttl
            self.local[key] = (count + 1, expires)
            return count + 1


counters = WindowCounters()


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
        seen = counters.increment(key, duration + 1)
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


class LoginFailures:
    """Failed password attempts per username (rate "login"), wherever they come from.

    Past the rate, that username is refused for the rest of the window, even
    with the right password, so spreading guesses over many addresses does not
    help. Usernames are counted by a digest of their normalised form.
    """

    scope = "login"

    def _key_and_window(self, username: str) -> tuple[str, int, int, float]:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or ""
        count, _, period = rate.partition("/")
        limit, duration = (int(count), DURATIONS[period[0]]) if count and period else (0, 60)
        digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "replace")).hexdigest()[:32]
        now = time.time()
        return f"throttle:login-user:{digest}:{int(now // duration)}", limit, duration, duration - (now % duration)

    def wait_before_next(self, username: str) -> float | None:
        """Seconds *username* must wait before another attempt, or None when it may try now."""
        if not username:
            return None
        key, limit, _, remaining = self._key_and_window(username)
        return remaining if limit and counters.peek(key) >= limit else None

    def record(self, username: str) -> None:
        if username:
            key, _, duration, _ = self._key_and_window(username)
            counters.increment(key, duration + 1)


login_failures = LoginFailures()


def _too_many(wait: float) -> HttpResponse:
    seconds = int(wait) + 1
    response = HttpResponse(
        f"Too many login attempts; try again in {seconds} seconds.", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(seconds)
    return response


def throttle_login_view(view):
    """Wrap a Django login view (the admin's): the login rate per client address and failures per username."""

    @wraps(view)
    def throttled(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        throttle = LoginRateThrottle()
        if not throttle.allow_request(request, None):
            return _too_many(throttle.wait() or 60)
        username = str(request.POST.get("username", ""))
        wait = login_failures.wait_before_next(username)
        if wait is not None:
            return _too_many(wait)
        response = view(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: the password was refused (success redirects)
            login_failures.record(username)
        return response

    return throttled
