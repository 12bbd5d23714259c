"""Extensions' pages, navigation items and dashboard widgets in the admin, per viewer, per extension state."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from extensions_core import ui
from extensions_core.exceptions import ExtensionLoadError
from extensions_core.models import DashboardLayout, Extension
from extensions_core.permissions import grant
from extensions_core.services import extension_discover, extension_load, extension_unload
from tests.conftest import base_manifest, install_fixture, write_extension

pytestmark = pytest.mark.django_db
LAB = "/admin/extensions/ui-lab"


@pytest.fixture
def lab(extensions_root):
    install_fixture(extensions_root, "ui_lab")
    extension_discover(load_new=True)
    assert Extension.objects.get(name="ui-lab").status == Extension.Status.ACTIVE
    return Extension.objects.get(name="ui-lab")


def staff(client, name: str, *, roles=(), sees=None):
    """Log in a staff user holding *roles* (groups) and view_extension on *sees*."""
    user = get_user_model().objects.create_user(name, password="pw", is_staff=True)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    if sees is not None:
        grant(user, "view_extension", sees)
    client.force_login(user)
    return client


@pytest.fixture
def superuser(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    return client


def nav_items(page: str) -> list[str]:
    marker = 'data-navigation-item="'
    items = []
    for part in page.split(marker)[1:]:
        items.append(part.split('"', 1)[0])
    # The sidebar and the dashboard both list them; keep the sidebar's (first) order.
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def test_a_page_renders_inside_the_admin_with_its_context(superuser, lab):
    response = superuser.get(f"{LAB}/lab")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Lab page rendered 1 times for root; extension ui-lab 1.0.0." in page
    assert 'id="nav-sidebar"' in page and "Karen control room" in page
    assert superuser.get(f"{LAB}/reports/daily").content.decode().count("Daily report of UI lab") == 1


def test_navigation_lists_every_page_the_viewer_may_open_in_order_then_name(superuser, lab):
    page = superuser.get("/admin/").content.decode()

    assert nav_items(page) == ["ui-lab/reports/daily", "ui-lab/broken", "ui-lab/lab"]
    assert "🧪" in page


def test_a_viewer_without_the_role_does_not_see_the_item_and_gets_403(client, lab):
    staff(client, "viewer", sees=lab)

    page = client.get("/admin/").content.decode()

    assert nav_items(page) == ["ui-lab/reports/daily", "ui-lab/broken"]
    assert client.get(f"{LAB}/lab").status_code == 403
    assert client.get(f"{LAB}/reports/daily").status_code == 200


def test_a_viewer_with_the_role_opens_the_page(client, lab):
    staff(client, "labber", roles=["lab-role"], sees=lab)

    assert client.get(f"{LAB}/lab").status_code == 200
    assert nav_items(client.get("/admin/").content.decode()) == [
        "ui-lab/reports/daily",
        "ui-lab/broken",
        "ui-lab/lab",
    ]


def test_an_extension_the_viewer_cannot_see_answers_404_and_lists_nothing(client, lab):
    staff(client, "stranger", roles=["lab-role"])

    assert client.get(f"{LAB}/lab").status_code == 404
    assert client.get(f"{LAB}/reports/daily").status_code == 404
    page = client.get("/admin/").content.decode()
    assert nav_items(page) == []
    assert 'data-extension="ui-lab"' not in page


def test_pages_of_an_extension_that_is_not_active_answer_404_and_leave_the_navigation(superuser, lab):
    extension_unload(name="ui-lab")

    assert superuser.get(f"{LAB}/lab").status_code == 404
    assert nav_items(superuser.get("/admin/").content.decode()) == []

    extension_load(name="ui-lab")
    assert superuser.get(f"{LAB}/lab").status_code == 200
    assert "ui-lab/lab" in nav_items(superuser.get("/admin/").content.decode())


def test_an_unknown_page_path_answers_404_inside_the_admin(superuser, lab):
    missing = superuser.get(f"{LAB}/nothing-here")

    assert missing.status_code == 404
    assert "No page <code>/nothing-here</code> of an active extension <code>ui-lab</code>" in missing.content.decode()
    assert 'id="nav-sidebar"' in missing.content.decode()
    assert superuser.get("/admin/extensions/no-such-extension/lab").status_code == 404


def test_the_extension_admin_page_links_its_pages_only_while_active(superuser, lab):
    change = f"/admin/extensions_core/extension/{lab.pk}/change/"
    assert f'href="{LAB}/lab"' in superuser.get(change).content.decode()

    extension_unload(name="ui-lab")

    page = superuser.get(change).content.decode()
    assert f'href="{LAB}/lab"' not in page
    assert "Served while the extension is active: 🧪 Lab page" in page


def test_a_page_that_raises_shows_the_error_inside_the_admin(superuser, lab):
    response = superuser.get(f"{LAB}/broken")

    page = response.content.decode()
    assert response.status_code == 500
    assert "could not be shown: it raised RuntimeError: the lab page broke" in page
    assert 'id="nav-sidebar"' in page


def test_the_extension_root_leads_to_its_admin_page(superuser, lab):
    response = superuser.get(f"{LAB}/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/extensions_core/extension/{lab.pk}/change/"


# --- widgets -------------------------------------------------------------------------------------------------------


def test_the_dashboard_has_a_box_per_widget_the_viewer_may_see(client, lab):
    staff(client, "viewer", sees=lab)

    page = client.get("/admin/").content.decode()

    assert 'data-widget="ui-lab:raises"' in page
    assert 'data-widget="ui-lab:plain"' in page
    assert 'data-widget="ui-lab:counter"' not in page  # needs lab-role
    assert client.get(f"{LAB}/widgets/counter/").status_code == 403


def test_a_widget_renders_its_template_with_its_context(superuser, lab):
    assert "<p data-counter>1</p>" in superuser.get(f"{LAB}/widgets/counter/").content.decode()
    assert "Plain widget of ui-lab" in superuser.get(f"{LAB}/widgets/plain/").content.decode()


def test_a_widget_that_raises_shows_an_error_in_its_box_only(superuser, lab):
    response = superuser.get(f"{LAB}/widgets/raises/")

    assert response.status_code == 200
    assert "This widget could not be shown: it raised ValueError: widget exploded" in response.content.decode()
    assert superuser.get("/admin/").status_code == 200


def test_a_widget_that_returns_the_wrong_thing_says_what_it_must_return(superuser, lab):
    page = superuser.get(f"{LAB}/widgets/not-a-dict/").content.decode()

    assert "its context function must return a dict (got list)" in page


def test_a_widget_that_hangs_is_cut_off_at_its_bound_and_not_started_again(superuser, lab, monkeypatch):
    monkeypatch.setattr(ui, "WIDGET_RENDER_TIMEOUT_SECONDS", 0.3)

    started = time.monotonic()
    first = superuser.get(f"{LAB}/widgets/hangs/?sleep=2").content.decode()
    took = time.monotonic() - started
    time.sleep(0.4)
    second = superuser.get(f"{LAB}/widgets/hangs/?sleep=2").content.decode()
    others = superuser.get(f"{LAB}/widgets/plain/").content.decode()

    assert "it did not render within 0.3 s" in first
    assert took < 1.5
    assert "an earlier render has not returned" in second
    assert "Plain widget of ui-lab" in others


def test_widgets_of_an_unloaded_extension_are_gone(superuser, lab):
    extension_unload(name="ui-lab")

    assert superuser.get(f"{LAB}/widgets/plain/").status_code == 404
    assert 'data-widget="ui-lab:plain"' not in superuser.get("/admin/").content.decode()


def widget_order(page: str) -> list[str]:
    start = page.index('id="widgets"')
    return [part.split('"', 1)[0] for part in page[start:].split('class="cr-widget" data-widget="')[1:]]


def test_a_viewer_hides_shows_and_reorders_widgets_and_it_is_kept_per_user(superuser, lab, client):
    default = widget_order(superuser.get("/admin/").content.decode())
    assert default == ["ui-lab:counter", "ui-lab:hangs", "ui-lab:not-a-dict", "ui-lab:plain", "ui-lab:raises"]

    superuser.post("/admin/control-room/widgets/arrange/", {"widget": "ui-lab:hangs", "action": "hide"})
    superuser.post("/admin/control-room/widgets/arrange/", {"widget": "ui-lab:raises", "action": "up"})
    page = superuser.get("/admin/").content.decode()

    assert widget_order(page) == ["ui-lab:counter", "ui-lab:not-a-dict", "ui-lab:raises", "ui-lab:plain"]
    assert 'data-widget-show="ui-lab:hangs"' in page
    assert DashboardLayout.objects.get(user__username="root").hidden == ["ui-lab:hangs"]

    superuser.post("/admin/control-room/widgets/arrange/", {"widget": "ui-lab:hangs", "action": "show"})
    assert widget_order(superuser.get("/admin/").content.decode())[-1] == "ui-lab:hangs"

    staff(client, "other", roles=["lab-role"], sees=lab)
    assert widget_order(client.get("/admin/").content.decode()) == default


def test_arranging_a_widget_the_viewer_does_not_have_says_so(superuser, lab):
    response = superuser.post(
        "/admin/control-room/widgets/arrange/", {"widget": "ui-lab:nope", "action": "hide"}, follow=True
    )

    assert "here is no widget &quot;ui-lab:nope&quot; on your dashboard" in response.content.decode()
    assert not DashboardLayout.objects.filter(user__username="root").exists()


# --- declaring pages and widgets ---------------------------------------------------------------------------------


def test_two_extensions_claiming_one_page_path_the_second_is_refused_at_load(extensions_root, lab):
    folder = write_extension(
        extensions_root,
        "other-lab",
        manifest=base_manifest("other-lab", ui={"control_room_pages": [{"name": "Mine", "path": "/lab"}]}),
    )
    (folder / "templates" / "pages").mkdir(parents=True)
    (folder / "templates" / "pages" / "lab.html").write_text("mine")
    extension_discover(load_new=False)

    with pytest.raises(ExtensionLoadError) as refused:
        extension_load(name="other-lab")

    assert refused.value.code == "extension_page_conflict"
    assert 'page path "/lab" (Mine) is already served by extension "ui-lab"' in refused.value.message
    assert Extension.objects.get(name="other-lab").error_code == "extension_page_conflict"
    assert Extension.objects.get(name="ui-lab").status == Extension.Status.ACTIVE


def test_a_declared_page_without_its_template_is_refused_at_load(extensions_root):
    write_extension(
        extensions_root,
        "no-template",
        manifest=base_manifest("no-template", ui={"control_room_pages": [{"name": "Gone", "path": "/gone"}]}),
    )
    extension_discover(load_new=True)

    extension = Extension.objects.get(name="no-template")
    assert extension.error_code == "extension_ui_template_missing"
    assert "templates/pages/gone.html is not a file in the extension package" in extension.error_message


def test_an_undeclared_page_method_is_refused_at_load(extensions_root):
    code = (
        "from extensions_core.sdk import BaseExtension, page\n\n\n"
        "class Sneaky(BaseExtension):\n"
        "    @page('/hidden')\n"
        "    def hidden(self, request):\n"
        "        return {}\n"
    )
    write_extension(extensions_root, "sneaky", code=code)
    extension_discover(load_new=True)

    extension = Extension.objects.get(name="sneaky")
    assert extension.error_code == "extension_undeclared_ui"
    assert "/hidden" in extension.error_message
