"""Regressions from the access and lifecycle review: leaks through OPTIONS/Allow and through
dependencies, stale access while a sync holds the lock, stuck rows, unsafe configuration writes."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from extensions_core.models import Extension
from extensions_core.permissions import grant
from extensions_core.registry import registry
from extensions_core.services import extension_discover, extension_load
from tests.conftest import install_fixture, write_extension
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db


def test_options_describes_nothing_before_access_is_checked(extensions_root):
    install_fixture(extensions_root, "with_routes")
    extension_discover(load_new=True)

    response = token_client(None).options("/api/extensions/with-routes/items")

    assert response.status_code in (401, 405)
    assert "Items." not in response.content.decode()


def test_allow_headers_do_not_tell_invisible_from_missing(extensions_root):
    install_fixture(extensions_root, "with_routes")
    extension_discover(load_new=True)
    client = token_client(make_user("no_grants", None))

    hidden = client.get("/api/extensions/with-routes/items")
    missing = client.get("/api/extensions/no-such-extension/items")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.get("Allow") == missing.get("Allow")


@pytest.fixture
def chain(extensions_root):
    install_fixture(extensions_root, "dependency_base")
    install_fixture(extensions_root, "dependency_child")
    extension_discover(load_new=False)
    return {row.name: row for row in Extension.objects.all()}


def test_loading_never_loads_a_dependency_the_caller_cannot_see(chain):
    user = make_user("manager", chain["dep-child"])

    response = token_client(user).post("/api/extensions/dep-child/load")

    assert response.status_code == 409
    assert response.json()["code"] == "extension_dependency_unavailable"
    assert "1.2.0" not in response.json()["message"]
    assert Extension.objects.get(name="dep-base").status == "not_loaded"
    assert Extension.objects.get(name="dep-child").error_code == ""


def test_loading_never_loads_a_dependency_the_caller_may_only_see(chain):
    user = make_user("manager", chain["dep-child"])
    grant(user, "view_extension", chain["dep-base"])

    response = token_client(user).post("/api/extensions/dep-child/load")

    assert response.json()["code"] == "extension_dependency_not_permitted"
    assert Extension.objects.get(name="dep-base").status == "not_loaded"


def test_refusals_never_name_dependents_the_caller_cannot_see(chain):
    extension_load(name="dep-child")
    user = make_user("manager", chain["dep-base"])

    refused = token_client(user).post("/api/extensions/dep-base/unload")
    cascade = token_client(user).post("/api/extensions/dep-base/unload?cascade=true")

    assert refused.status_code == cascade.status_code == 409
    assert "dep-child" not in refused.json()["message"]
    assert "1 extension you cannot see" in refused.json()["message"]
    assert "you may not manage all of them" in cascade.json()["message"]
    assert Extension.objects.get(name="dep-child").status == "active"


def test_a_revocation_applies_while_another_thread_holds_the_registry(extensions_root, settings):
    install_fixture(extensions_root, "valid_minimal")
    extension_discover(load_new=True)
    user = make_user("viewer", Extension.objects.get(name="valid-minimal"))
    client = token_client(user)
    assert client.get("/api/extensions/valid-minimal/").status_code == 200
    held, release = threading.Event(), threading.Event()

    def hold():
        with registry.lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        # Another process revokes: rows change and the shared marker moves, no signal here.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM guardian_userobjectpermission")
            cursor.execute(
                "UPDATE extensions_core_registrystate "
                "SET generation = generation + 1, access_generation = access_generation + 1"
            )
        registry.last_checked = float("-inf")
        status = client.get("/api/extensions/valid-minimal/").status_code
    finally:
        release.set()
        holder.join()

    assert status == 404


def test_a_get_routes_that_raises_is_recorded_and_never_leaves_the_row_loading(extensions_root):
    write_extension(
        extensions_root,
        "bad-routes",
        code=(
            "from extensions_core.sdk import BaseExtension\n\n\n"
            "class BadRoutes(BaseExtension):\n"
            "    def get_routes(self):\n"
            "        raise ValueError('no routes today')\n"
        ),
    )
    extension_discover(load_new=False)

    response = token_client(make_user("superuser", None)).post("/api/extensions/bad-routes/load")

    assert response.status_code == 409
    assert response.json()["code"] == "extension_routes_failed"
    row = Extension.objects.get(name="bad-routes")
    assert (row.status, row.error_code) == ("error", "extension_routes_failed")


def test_configuring_an_extension_without_a_valid_manifest_is_409(extensions_root):
    write_extension(extensions_root, "broken-config", manifest={"name": "broken-config", "version": "x"})
    extension_discover(load_new=False)

    response = token_client(make_user("superuser", None)).put(
        "/api/extensions/broken-config/config", {"config": {}}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "extension_manifest_unavailable"


def test_a_configure_that_raises_stores_nothing(extensions_root):
    write_extension(
        extensions_root,
        "picky",
        code=(
            "from extensions_core.sdk import BaseExtension\n\n\n"
            "class Picky(BaseExtension):\n"
            "    def configure(self, config):\n"
            "        raise RuntimeError('cannot reconnect')\n"
        ),
    )
    extension_discover(load_new=True)

    response = token_client(make_user("superuser", None)).put(
        "/api/extensions/picky/config", {"config": {"anything": 1}}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "extension_configure_failed"
    assert Extension.objects.get(name="picky").config == {}


def test_sourceless_modules_are_never_imported_from_an_extension(extensions_root):
    import py_compile

    folder = write_extension(
        extensions_root,
        "sourceless",
        code=(
            "from extensions_core.sdk import BaseExtension\n"
            "from . import compiled  # noqa: F401\n\n\n"
            "class Sourceless(BaseExtension):\n    pass\n"
        ),
    )
    (folder / "compiled_src.py").write_text("VALUE = 1\n")
    py_compile.compile(str(folder / "compiled_src.py"), cfile=str(folder / "compiled.pyc"))
    (folder / "compiled_src.py").unlink()
    extension_discover(load_new=False)

    response = token_client(make_user("superuser", None)).post("/api/extensions/sourceless/load")

    assert response.json()["code"] == "extension_import_failed"
    assert "compiled" in response.json()["message"]
