"""API fixtures: the shipped extensions loaded, users in every role, token-authenticated clients."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from extensions_core.models import Extension, TaskDefinition
from extensions_core.permissions import grant
from extensions_core.services import extension_discover

ROLES = (
    "anonymous",
    "no_grants",
    "viewer",
    "role_without_use",
    "user_with_use",
    "manager",
    "task_viewer",
    "task_runner",
    "event_emitter",
    "superuser",
)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Throttle counters live in the shared cache; user ids repeat across tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def platform(shipped, settings):
    """hello-extension and background-task-extension, discovered and loaded."""
    settings.EXTENSIONS = {**settings.EXTENSIONS, "CHANGE_CHECK_INTERVAL_SECONDS": 0.0}
    report = extension_discover(load_new=False)
    from extensions_core.services import extension_load

    for name in ("hello-extension", "background-task-extension"):
        extension_load(name=name)
    return report


_serial = itertools.count(1)


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user, expiry=None)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def make_user(role: str, target: Extension | None):
    """Return a user holding *role* on *target* (None for anonymous)."""
    if role == "anonymous":
        return None
    users = get_user_model()
    username = f"{role}-{next(_serial)}"
    if role == "superuser":
        return users.objects.create_superuser(username, password="x")
    user = users.objects.create_user(username, password="x")
    if role in ("role_without_use", "user_with_use"):
        user.groups.add(Group.objects.get_or_create(name="user")[0])
    if target is not None:
        if role in ("viewer", "role_without_use"):
            grant(user, "view_extension", target)
        elif role == "user_with_use":
            grant(user, "use_extension", target)
        elif role == "manager":
            grant(user, "manage_extension", target)
        elif role in ("task_viewer", "task_runner"):
            codename = "view_taskdefinition" if role == "task_viewer" else "run_taskdefinition"
            for definition in TaskDefinition.objects.filter(extension=target):
                grant(user, codename, definition)
    if role == "event_emitter":
        grant(user, "add_event")
        grant(user, "view_event")
    return user


@pytest.fixture
def client_as(platform):
    """client_as(role, extension_name="hello-extension") -> a client for a user in that role on it."""

    def build(role: str, extension_name: str = "hello-extension") -> APIClient:
        target = Extension.objects.get(name=extension_name)
        return token_client(make_user(role, target))

    return build
