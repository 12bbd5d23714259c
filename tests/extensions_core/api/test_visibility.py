"""Lists and stats show exactly what the caller may see; grants and revocations apply at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from extensions_core.models import Extension
from extensions_core.permissions import grant, revoke
from extensions_core.services import extension_discover
from tests.conftest import write_extension
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

NAMES = [f"ext-{index:02d}" for index in range(7)]


@pytest.fixture
def seven(extensions_root):
    for index, name in enumerate(NAMES):
        write_extension(extensions_root, name, category="odd" if index % 2 else "even")
    extension_discover(load_new=True)
    return {extension.name: extension for extension in Extension.objects.all()}


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_a_user_with_view_on_k_of_n_extensions_sees_exactly_k(seven, k):
    user = make_user("viewer", None)
    for name in NAMES[:k]:
        grant(user, "view_extension", seven[name])
    client = token_client(user)

    listing = client.get("/api/extensions/").json()
    stats = client.get("/api/extensions/system/stats").json()
    health = client.get("/api/extensions/system/health").json()

    assert listing["count"] == k
    assert [item["name"] for item in listing["results"]] == NAMES[:k]
    assert stats["total"] == k
    assert sum(stats["by_status"].values()) == k
    assert sum(stats["by_category"].values()) == k
    assert health["extensions"]["active"] == k


def test_use_and_manage_grants_also_make_an_extension_visible(seven):
    user = make_user("viewer", None)
    grant(user, "use_extension", seven["ext-01"])
    grant(user, "manage_extension", seven["ext-02"])

    listing = token_client(user).get("/api/extensions/").json()

    assert [item["name"] for item in listing["results"]] == ["ext-01", "ext-02"]


def test_group_grants_count_for_members(seven):
    user = make_user("viewer", None)
    team = Group.objects.create(name="team")
    user.groups.add(team)
    grant(team, "view_extension", seven["ext-03"])

    listing = token_client(user).get("/api/extensions/").json()

    assert [item["name"] for item in listing["results"]] == ["ext-03"]


def test_a_model_wide_grant_shows_all(seven):
    user = make_user("viewer", None)
    grant(user, "view_extension")

    assert token_client(user).get("/api/extensions/").json()["count"] == 7


def test_revoking_hides_the_extension_on_the_next_request(seven):
    user = make_user("viewer", None)
    grant(user, "view_extension", seven["ext-04"])
    client = token_client(user)
    assert client.get("/api/extensions/ext-04/").status_code == 200

    revoke(user, "view_extension", seven["ext-04"])

    assert client.get("/api/extensions/ext-04/").status_code == 404
    assert client.get("/api/extensions/").json()["count"] == 0


def test_filters_narrow_the_visible_list(seven):
    client = token_client(make_user("superuser", None))

    odd = client.get("/api/extensions/?category=odd").json()
    active = client.get("/api/extensions/?status=active").json()
    bad = client.get("/api/extensions/?status=sleeping")

    assert [item["name"] for item in odd["results"]] == ["ext-01", "ext-03", "ext-05"]
    assert active["count"] == 7
    assert bad.status_code == 400
    assert bad.json()["problems"][0]["field"] == "status"


def test_lists_are_paginated(seven):
    client = token_client(make_user("superuser", None))

    page = client.get("/api/extensions/?page_size=3&page=2").json()

    assert page["count"] == 7
    assert [item["name"] for item in page["results"]] == ["ext-03", "ext-04", "ext-05"]
    assert page["next"].endswith("page=3&page_size=3")
