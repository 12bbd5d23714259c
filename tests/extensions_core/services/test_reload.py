"""Reload is atomic: the new version takes over only once it is imported, checked and initialized."""

from __future__ import annotations

import json

import pytest

from extensions_core.exceptions import ExtensionLoadError, ManifestError
from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.services import extension_discover, extension_load, extension_reload
from tests.conftest import install_fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(extensions_root):
    folder = install_fixture(extensions_root, "reload_lab")
    extension_discover(load_new=False)
    extension_load(name="reload-lab")
    return folder


def edit(path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def edit_manifest(folder, change) -> None:
    document = json.loads((folder / "extension.json").read_text())
    change(document)
    (folder / "extension.json").write_text(json.dumps(document))


def syntax_error(folder):
    edit(folder / "__init__.py", 'MARK = "one"', 'MARK = "two"\ndef broken(:\n')


def endpoint_without_route(folder):
    edit(folder / "__init__.py", 'MARK = "one"', 'MARK = "two"')
    edit_manifest(folder, lambda d: d["api"]["endpoints"].append({"path": "/more", "methods": ["GET"]}))


def missing_task_function(folder):
    edit(folder / "__init__.py", 'MARK = "one"', 'MARK = "two"')
    edit_manifest(folder, lambda d: d["background_tasks"][0].update(function="tasks.nowhere"))


def broken_helper_module(folder):
    edit(folder / "tasks.py", 'MARK = "one"', "MARK = (")


def initialize_raises(folder):
    edit(folder / "__init__.py", "        self.mark = MARK", "        raise RuntimeError('not today')")


@pytest.mark.parametrize(
    ("break_it", "code"),
    [
        (syntax_error, "extension_import_failed"),
        (endpoint_without_route, "extension_route_missing"),
        (missing_task_function, "extension_task_function_missing"),
        (broken_helper_module, "extension_task_function_missing"),
        (initialize_raises, "extension_initialize_failed"),
    ],
)
def test_a_reload_whose_new_code_fails_keeps_the_running_version_serving(lab, admin_client, break_it, code):
    running = registry.entries["reload-lab"]
    break_it(lab)

    with pytest.raises(ExtensionLoadError) as caught:
        extension_reload(name="reload-lab")
    row = Extension.objects.get(name="reload-lab")
    served = admin_client.get("/api/extensions/reload-lab/mark")
    task = registry.entries["reload-lab"].instance.get_task_function("tasks.work")

    assert caught.value.code == code
    assert (row.status, row.revision, row.error_code) == ("active", 1, "")
    assert row.reload_error_code == code and row.reload_error_message == caught.value.message
    assert row.reload_failed_at is not None
    assert registry.entries["reload-lab"] is running and running.instance.stopped is False
    assert (served.status_code, served.json()) == (200, {"mark": "one"})
    assert task(None) == {"mark": "one"}


def test_a_reload_with_an_invalid_manifest_records_why_and_keeps_serving(lab, admin_client):
    edit_manifest(lab, lambda d: d.update(version="banana"))

    with pytest.raises(ManifestError):
        extension_reload(name="reload-lab")
    row = Extension.objects.get(name="reload-lab")

    assert (row.status, row.reload_error_code) == ("active", "manifest_invalid_version")
    assert "banana" in row.reload_error_message
    assert admin_client.get("/api/extensions/reload-lab/mark").json() == {"mark": "one"}


def test_a_good_reload_after_a_failed_one_swaps_versions_and_clears_the_error(lab, admin_client):
    old = registry.entries["reload-lab"]
    syntax_error(lab)
    with pytest.raises(ExtensionLoadError):
        extension_reload(name="reload-lab")
    edit(lab / "__init__.py", "def broken(:\n", "")
    edit(lab / "tasks.py", 'MARK = "one"', 'MARK = "two"')

    extension = extension_reload(name="reload-lab")
    task = registry.entries["reload-lab"].instance.get_task_function("tasks.work")

    assert (extension.revision, extension.reload_error_code, extension.reload_failed_at) == (2, "", None)
    assert old.instance.stopped is True  # the old version was shut down, after the new one took over
    assert admin_client.get("/api/extensions/reload-lab/mark").json() == {"mark": "two"}
    assert task(None) == {"mark": "two"}


def a_new_process() -> None:
    """Forget this process's registry and modules, as a process started now would begin."""
    import sys

    from extensions_core.loader import NAMESPACE

    registry.reset()
    for module in [key for key in sys.modules if key.startswith(NAMESPACE + ".")]:
        del sys.modules[module]


def test_a_process_started_after_the_code_changed_on_disk_runs_the_loaded_revision(lab):
    from extensions_core.services import registry_sync

    edit(lab / "__init__.py", 'MARK = "one"', 'MARK = "two"')
    a_new_process()

    registry_sync(force=True)

    assert registry.entries["reload-lab"].instance.mark == "one"
    assert registry.entries["reload-lab"].folder != lab  # the snapshot the load took, not the folder being edited


def test_a_machine_without_the_snapshot_refuses_code_that_changed_since_the_load(lab, settings, tmp_path):
    from extensions_core.services import registry_sync

    settings.EXTENSIONS = {**settings.EXTENSIONS, "SNAPSHOT_DIR": str(tmp_path / "other-machine")}
    edit(lab / "__init__.py", 'MARK = "one"', 'MARK = "two"')
    a_new_process()

    registry_sync(force=True)

    assert "reload-lab" not in registry.entries
    assert "changed on disk since" in registry.failures["reload-lab"][1]


def test_a_machine_without_the_snapshot_copies_unchanged_code_and_runs_it(lab, settings, tmp_path):
    from extensions_core.services import registry_sync

    settings.EXTENSIONS = {**settings.EXTENSIONS, "SNAPSHOT_DIR": str(tmp_path / "other-machine")}
    a_new_process()

    registry_sync(force=True)

    assert registry.entries["reload-lab"].instance.mark == "one"
    assert str(registry.entries["reload-lab"].folder).startswith(str(tmp_path / "other-machine"))
