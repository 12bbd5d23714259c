"""Authentication: hashed tokens with expiry and revocation, session auth with CSRF, login rate limits."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.extensions_core.api.conftest import make_user

pytestmark = pytest.mark.django_db
LIST = "/api/extensions/"


def create_token(username: str, *args: str) -> str:
    out = StringIO()
    call_command("tokens", "create", username, *args, stdout=out)
    return out.getvalue().split()[-1]


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="correct horse battery staple")


def test_tokens_create_prints_a_working_token_as_the_last_word(alice):
    token = create_token("alice", "--expires-days", "3")

    response = with_token(token).get(LIST)

    assert response.status_code == 200
    stored = AuthToken.objects.get(user=alice)
    assert token not in (stored.digest, stored.token_key)
    assert timedelta(days=2, hours=23) < stored.expiry - timezone.now() <= timedelta(days=3)


def test_a_revoked_token_gets_401(alice):
    token = create_token("alice")
    call_command("tokens", "revoke", token, stdout=StringIO())

    response = with_token(token).get(LIST)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"


def test_an_expired_token_gets_401(alice):
    token = create_token("alice", "--expires-days", "1")
    AuthToken.objects.filter(user=alice).update(expiry=timezone.now() - timedelta(seconds=1))

    response = with_token(token).get(LIST)

    assert response.status_code == 401
    assert AuthToken.objects.filter(user=alice).count() == 0


def test_a_token_of_an_inactive_user_gets_401(alice):
    token = create_token("alice")
    alice.is_active = False
    alice.save()

    assert with_token(token).get(LIST).status_code == 401


def test_a_garbled_token_gets_401():
    response = with_token("karen_not-a-real-token").get(LIST)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_no_credentials_get_401_with_www_authenticate():
    response = APIClient().get(LIST)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_revoking_an_unknown_token_fails_with_one_line():
    with pytest.raises(CommandError) as caught:
        call_command("tokens", "revoke", "karen_0000000000000000", stdout=StringIO())

    assert str(caught.value) == "no such token (already revoked, expired, or mistyped)"


def test_creating_a_token_for_an_unknown_user_fails():
    with pytest.raises(CommandError) as caught:
        call_command("tokens", "create", "nobody", stdout=StringIO())

    assert 'no user "nobody"' in str(caught.value)


def test_the_token_endpoint_trades_a_password_for_a_token(alice):
    response = APIClient().post("/api/auth/token", {"username": "alice", "password": "correct horse battery staple"})

    assert response.status_code == 201
    assert with_token(response.json()["token"]).get(LIST).status_code == 200


def test_the_token_endpoint_refuses_a_wrong_password_with_401(alice):
    response = APIClient().post("/api/auth/token", {"username": "alice", "password": "wrong"})

    assert response.status_code == 401
    assert response.json()["message"] == "Wrong username or password."


def test_a_token_can_revoke_itself(alice):
    token = create_token("alice")
    client = with_token(token)

    assert client.post("/api/auth/token/revoke").status_code == 204
    assert client.get(LIST).status_code == 401


def test_password_attempts_are_rate_limited_in_the_shared_cache(alice, settings):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "3/min"},
    }
    client = APIClient()

    codes = [client.post("/api/auth/token", {"username": "alice", "password": "wrong"}).status_code for _ in range(4)]

    assert codes == [401, 401, 401, 429]
    cache.clear()


def test_admin_login_attempts_are_rate_limited(alice, client, settings):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "2/min"},
    }

    codes = [client.post("/admin/login/", {"username": "alice", "password": "wrong"}).status_code for _ in range(3)]

    assert codes == [200, 200, 429]
    cache.clear()


def test_session_writes_need_the_csrf_token():
    superuser = make_user("superuser", None)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(superuser)

    response = client.post("/api/extensions/discover")

    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_session_writes_with_the_csrf_token_pass(settings, extensions_root):
    superuser = make_user("superuser", None)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(superuser)
    client.get("/admin/")
    csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
    if csrf is None:
        from django.middleware.csrf import _get_new_csrf_string

        csrf = _get_new_csrf_string()
        client.cookies["csrftoken"] = csrf

    response = client.post("/api/extensions/discover", HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 200


def test_session_reads_need_no_csrf_token():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("viewer", None))

    assert client.get(LIST).status_code == 200


def test_authenticated_callers_are_limited_per_user_with_retry_after(alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"},
    }
    client = with_token(create_token("alice"))
    other = with_token(create_token("alice"))  # another token of the same user shares the limit

    codes = [client.get(LIST).status_code for _ in range(4)]
    limited = client.get(LIST)

    assert codes == [200, 200, 200, 429]
    assert limited.json()["code"] == "throttled"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert other.get(LIST).status_code == 429


def test_anonymous_callers_are_limited_per_address(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    client = APIClient()

    # Protected views answer 401 before any throttle; open ones (the schema) count anonymous calls.
    codes = [client.get("/api/schema/?format=json").status_code for _ in range(3)]

    assert codes == [200, 200, 429]


@pytest.fixture
def unreachable_cache(settings):
    """The cache is a Redis nobody listens on; afterwards the process counts in the real cache again."""
    from extensions_core.api.throttling import counters
    from tests.servers import free_port

    original = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "karen.redis_cache.PooledRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield
    settings.CACHES = original
    counters.cache_down_until = 0.0
    counters.local.clear()


def test_rate_limits_hold_per_process_while_the_cache_is_unreachable(alice, settings, unreachable_cache):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"},
    }
    client = APIClient()
    client.force_authenticate(alice)
    began = time.monotonic()

    codes = [client.get(LIST).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    assert time.monotonic() - began < 2


def test_password_attempts_stay_limited_while_the_cache_is_unreachable(alice, settings, unreachable_cache):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "2/min"},
    }
    client = APIClient()

    codes = [client.post("/api/auth/token", {"username": "alice", "password": "wrong"}).status_code for _ in range(3)]

    assert codes == [401, 401, 429]


def login_rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": rate},
    }


def test_a_forged_forwarded_for_header_does_not_escape_the_login_limit(alice, settings):
    cache.clear()
    login_rate(settings, "3/min")
    client = APIClient()

    codes = [
        client.post(
            "/api/auth/token", {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}"
        ).status_code
        for attempt in range(5)
    ]

    assert codes == [401, 401, 401, 429, 429]


def test_the_admin_login_ignores_a_forged_forwarded_for_header(alice, client, settings):
    cache.clear()
    login_rate(settings, "2/min")

    codes = [
        client.post(
            "/admin/login/", {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}"
        ).status_code
        for attempt in range(4)
    ]

    assert codes == [200, 200, 429, 429]


def test_failures_are_counted_per_username_across_addresses_and_shared_by_admin_and_token(alice, client, settings):
    cache.clear()
    login_rate(settings, "3/min")
    api = APIClient()
    guess = {"username": "alice", "password": "wrong"}

    first = [api.post("/api/auth/token", guess, REMOTE_ADDR=f"10.0.1.{n}").status_code for n in range(2)]
    admin = client.post("/admin/login/", guess, REMOTE_ADDR="10.0.2.1").status_code
    blocked = api.post(
        "/api/auth/token", {"username": "alice", "password": "correct horse battery staple"}, REMOTE_ADDR="10.0.3.1"
    )
    other_user = api.post("/api/auth/token", {"username": "bob", "password": "x"}, REMOTE_ADDR="10.0.4.1")

    assert first == [401, 401] and admin == 200
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert other_user.status_code == 401


def test_behind_a_declared_proxy_the_forwarded_address_is_the_client(alice, settings):
    cache.clear()
    login_rate(settings, "2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()

    # Through one trusted proxy, two different clients each get their own allowance.
    codes = [
        client.post(
            "/api/auth/token", {"username": f"u{n}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n % 2}"
        ).status_code
        for n in range(4)
    ]

    assert codes == [401, 401, 401, 401]
