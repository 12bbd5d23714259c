"""Extensions in Django admin: status and error at a glance, the manifest readable, actions per object."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.services import extension_discover
from tests.conftest import install_fixture

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/extensions_core/extension/"


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", password="correct horse battery")
    client.force_login(user)
    return client


@pytest.fixture
def extensions(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "initialize_raises")
    extension_discover(load_new=True)


def test_the_list_shows_status_and_error_at_a_glance(operator, extensions):
    page = operator.get(CHANGELIST).content.decode()

    assert "active</span>" in page
    assert "error</span>" in page
    assert "<code>extension_initialize_failed</code>" in page
    assert 'title="Extension &quot;initialize-raises&quot;: initialize() raised RuntimeError' in page


def test_the_detail_page_shows_the_manifest_and_traceback(operator, extensions):
    extension = Extension.objects.get(name="initialize-raises")

    page = operator.get(f"{CHANGELIST}{extension.pk}/change/").content.decode()

    assert "&quot;name&quot;: &quot;initialize-raises&quot;" in page
    assert "RuntimeError: database unreachable" in page


def test_actions_report_each_extension_on_its_own_line(operator, extensions):
    ids = list(Extension.objects.values_list("pk", flat=True))

    response = operator.post(CHANGELIST, {"action": "reload_selected", "_selected_action": ids}, follow=True)

    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == [
        'Reload failed: Extension "initialize-raises": initialize() raised RuntimeError: database unreachable',
        'Reload: "valid-minimal" is now active.',
    ]
    assert Extension.objects.get(name="valid-minimal").revision == 2
    assert registry.names() == ["valid-minimal"]


def test_unload_action_changes_the_state(operator, extensions):
    extension = Extension.objects.get(name="valid-minimal")

    operator.post(CHANGELIST, {"action": "unload_selected", "_selected_action": [extension.pk]})

    assert Extension.objects.get(name="valid-minimal").status == Extension.Status.NOT_LOADED
    assert registry.names() == []


def test_extensions_cannot_be_added_by_hand(operator):
    assert operator.get(f"{CHANGELIST}add/").status_code == 403


def test_a_user_without_permission_sees_no_actions(client, extensions):
    staff = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get(CHANGELIST).status_code == 403


TOKENS = "/admin/knox/authtoken/"


def test_tokens_are_created_in_admin_and_shown_once(operator):
    from knox.models import AuthToken

    user = get_user_model().objects.create_user("api-client", password="x")

    response = operator.post(f"{TOKENS}add/", {"user": user.pk, "expires_days": 7}, follow=True)

    [message] = [str(item) for item in get_messages(response.wsgi_request)]
    secret = message.split()[-1]
    token = AuthToken.objects.get(user=user)
    assert message.startswith("Token for api-client, shown only now: karen_")
    assert token.token_key == secret[:15]
    assert secret not in response.content.decode().replace(message, "")


def test_tokens_are_revoked_in_admin(operator):
    from knox.models import AuthToken

    user = get_user_model().objects.create_user("api-client", password="x")
    token, _ = AuthToken.objects.create(user, expiry=None)

    operator.post(TOKENS, {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"})

    assert AuthToken.objects.count() == 0


def test_object_permissions_are_managed_in_admin(operator, extensions):
    from django.contrib.auth.models import Group

    extension = Extension.objects.get(name="valid-minimal")
    Group.objects.create(name="team")

    page = operator.get(f"{CHANGELIST}{extension.pk}/permissions/")
    operator.post(
        f"{CHANGELIST}{extension.pk}/permissions/group-manage/{Group.objects.get(name='team').pk}/",
        {"permissions": ["use_extension"]},
    )

    assert page.status_code == 200
    from guardian.shortcuts import get_perms

    assert get_perms(Group.objects.get(name="team"), extension) == ["use_extension"]


def test_actions_refuse_extensions_the_user_may_not_manage(client, extensions):
    from extensions_core.permissions import grant

    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    grant(staff, "view_extension")
    grant(staff, "manage_extension", Extension.objects.get(name="valid-minimal"))
    client.force_login(staff)
    ids = list(Extension.objects.values_list("pk", flat=True))

    response = client.post(CHANGELIST, {"action": "unload_selected", "_selected_action": ids}, follow=True)

    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == [
        'Unload refused: you may not manage "initialize-raises" (needs manage_extension).',
        'Unload: "valid-minimal" is now not loaded.',
    ]
