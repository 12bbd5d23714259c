"""Discovery from folders and installed distributions: good and broken packages side by side."""

from __future__ import annotations

import json

import pytest

from extensions_core.discovery import discover_extensions
from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.services import extension_discover, extension_load
from tests.conftest import base_manifest, install_fixture, write_extension

LIMITS = {"max_bytes": 256 * 1024, "max_depth": 32}


def test_discovery_pairs_each_folder_with_its_manifest_or_error(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    write_extension(extensions_root, "broken", manifest={"name": "broken", "version": "one"})
    (extensions_root / "not-an-extension").mkdir()
    (extensions_root / "notes.txt").write_text("not a package")

    found = discover_extensions(dirs=[extensions_root], **LIMITS)

    assert [(item.label, item.is_valid) for item in found] == [("broken", False), ("valid-minimal", True)]
    broken = found[0]
    assert broken.error.code == "manifest_invalid"
    assert {problem.field for problem in broken.error.problems} >= {"version", "author", "license"}


def test_a_folder_whose_manifest_is_not_json_is_reported_by_folder_name(extensions_root):
    folder = extensions_root / "garbled"
    folder.mkdir()
    (folder / "extension.json").write_text("{not json")

    [item] = discover_extensions(dirs=[extensions_root], **LIMITS)

    assert item.name is None
    assert item.label == "garbled"
    assert item.error.code == "manifest_invalid_json"


def test_a_missing_configured_folder_is_skipped(tmp_path, extensions_root):
    install_fixture(extensions_root, "valid_minimal")

    found = discover_extensions(dirs=[tmp_path / "nowhere", extensions_root], **LIMITS)

    assert [item.name for item in found] == ["valid-minimal"]


def test_the_second_package_with_a_name_is_rejected_and_the_first_kept(extensions_root):
    install_fixture(extensions_root, "duplicate_name_a")
    install_fixture(extensions_root, "duplicate_name_b")

    first, second = discover_extensions(dirs=[extensions_root], **LIMITS)

    assert first.is_valid and first.manifest.version == "1.0.0"
    assert second.error.code == "extension_duplicate_name"
    assert "duplicate_name_a" in second.error.message


@pytest.mark.django_db
def test_a_duplicate_never_replaces_the_registered_extension(extensions_root):
    install_fixture(extensions_root, "duplicate_name_b")
    extension_discover(load_new=True)
    install_fixture(extensions_root, "duplicate_name_a")

    report = extension_discover(load_new=True)

    row = Extension.objects.get(name="duplicate-name")
    assert row.path.endswith("duplicate_name_b")
    assert row.version == "2.0.0"
    assert row.status == Extension.Status.ACTIVE
    assert [item.error.code for item in report.problems] == ["extension_duplicate_name"]


@pytest.mark.django_db
def test_discover_creates_rows_loads_new_ones_and_records_broken_ones(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "import_error")
    write_extension(extensions_root, "bad-version", manifest=base_manifest("bad-version", version="v1"))

    report = extension_discover(load_new=True)

    assert sorted(report.created) == ["bad-version", "import-error", "valid-minimal"]
    assert report.loaded == ["valid-minimal"]
    assert "import-error" in report.load_errors
    states = {row.name: (row.status, row.error_code) for row in Extension.objects.all()}
    assert states == {
        "bad-version": ("error", "manifest_invalid_version"),
        "import-error": ("error", "extension_import_failed"),
        "valid-minimal": ("active", ""),
    }


@pytest.mark.django_db
def test_fixing_a_broken_manifest_and_rediscovering_clears_the_error(extensions_root):
    folder = write_extension(extensions_root, "fixable", manifest=base_manifest("fixable", version="v1"))
    extension_discover(load_new=False)
    (folder / "extension.json").write_text(json.dumps(base_manifest("fixable")))

    extension_discover(load_new=False)

    row = Extension.objects.get(name="fixable")
    assert (row.status, row.error_code, row.version) == ("not_loaded", "", "1.0.0")


@pytest.mark.django_db
def test_a_package_removed_from_disk_is_unloaded_and_marked_missing(extensions_root):
    folder = install_fixture(extensions_root, "valid_minimal")
    extension_discover(load_new=True)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()

    report = extension_discover()

    row = Extension.objects.get(name="valid-minimal")
    assert report.missing == ["valid-minimal"]
    assert (row.status, row.error_code, row.is_present) == ("error", "extension_source_missing", False)
    assert registry.names() == []


@pytest.mark.django_db
def test_new_extensions_stay_disabled_when_auto_enable_is_off(extensions_root, settings):
    settings.EXTENSIONS = {**settings.EXTENSIONS, "AUTO_ENABLE_DISCOVERED": False}
    install_fixture(extensions_root, "valid_minimal")

    report = extension_discover()

    row = Extension.objects.get(name="valid-minimal")
    assert (row.is_enabled, row.status) == (False, "disabled")
    assert report.loaded == []


@pytest.fixture
def installed_distribution(tmp_path, monkeypatch):
    """A real installed distribution on sys.path exposing a `karen.extensions` entry point."""
    site = tmp_path / "site-packages"
    package = site / "karen_sample_dist"
    package.mkdir(parents=True)
    (package / "extension.json").write_text(json.dumps(base_manifest("packaged-extension")))
    (package / "__init__.py").write_text(
        "from extensions_core.sdk import BaseExtension\n\n\nclass Packaged(BaseExtension):\n    pass\n"
    )
    info = site / "karen_sample_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: karen-sample-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[karen.extensions]\npackaged = karen_sample_dist\n")
    monkeypatch.syspath_prepend(str(site))
    return package


def test_installed_distributions_are_discovered_through_their_entry_point(extensions_root, installed_distribution):
    found = discover_extensions(dirs=[extensions_root], entry_point_group="karen.extensions", **LIMITS)

    [item] = found
    assert (item.name, item.source, item.folder) == ("packaged-extension", "entry_point", installed_distribution)
    assert item.entry_point == "packaged = karen_sample_dist"


@pytest.mark.django_db
def test_an_entry_point_extension_loads_under_the_private_namespace(extensions_root, installed_distribution, settings):
    settings.EXTENSIONS = {**settings.EXTENSIONS, "ENTRY_POINTS": True}
    extension_discover(load_new=False)

    extension_load(name="packaged-extension")

    assert type(registry.entries["packaged-extension"].instance).__module__ == "karen_extensions.packaged_extension"
    assert Extension.objects.get(name="packaged-extension").source == "entry_point"


@pytest.mark.django_db
def test_a_running_extension_whose_package_vanished_stops_everywhere_with_its_schedules_and_an_event(
    shipped, tmp_path, settings, django_capture_on_commit_callbacks
):
    import shutil

    from django_celery_beat.models import PeriodicTask

    from extensions_core.models import Event

    copy = tmp_path / "shipped"
    shutil.copytree(shipped, copy, ignore=shutil.ignore_patterns("__pycache__"))
    settings.EXTENSIONS = {**settings.EXTENSIONS, "DIRS": [copy]}
    extension_discover(load_new=False)
    extension_load(name="background-task-extension")
    enabled_before = PeriodicTask.objects.filter(name__startswith="karen:background-task-extension/", enabled=True)
    assert enabled_before.count() == 3
    shutil.rmtree(copy / "background-task-extension")

    with django_capture_on_commit_callbacks(execute=True):
        report = extension_discover(load_new=False)
    row = Extension.objects.get(name="background-task-extension")

    assert report.missing == ["background-task-extension"]
    assert (row.status, row.error_code, row.is_present) == ("error", "extension_source_missing", False)
    assert "background-task-extension" not in registry.names()
    assert not PeriodicTask.objects.filter(name__startswith="karen:background-task-extension/", enabled=True).exists()
    assert list(Event.objects.values_list("event_type", "event_data__error_code")) == [
        ("extension.failed", "extension_source_missing")
    ]


@pytest.mark.django_db
def test_a_running_extension_whose_manifest_broke_keeps_running_and_says_why_until_it_is_fixed(
    extensions_root, admin_client
):
    from io import StringIO

    from django.core.management import call_command

    folder = install_fixture(extensions_root, "valid_minimal")
    extension_discover(load_new=False)
    extension_load(name="valid-minimal")
    manifest = folder / "extension.json"
    good = manifest.read_text()
    manifest.write_text(good.replace('"1.0.0"', '"one"'))

    extension_discover()
    row = Extension.objects.get(name="valid-minimal")
    detail = admin_client.get("/api/extensions/valid-minimal/").json()
    shown = StringIO()
    call_command("extensions", "show", "valid-minimal", stdout=shown)
    manifest.write_text(good)
    extension_discover()
    fixed = Extension.objects.get(name="valid-minimal")

    assert (row.status, row.version, row.reload_error_code) == ("active", "1.0.0", "manifest_invalid_version")
    assert detail["status"] == "active"
    assert detail["last_reload_error"]["code"] == "manifest_invalid_version"
    assert '"one"' in detail["last_reload_error"]["message"]
    assert "Last reload failed" in shown.getvalue() and "manifest_invalid_version" in shown.getvalue()
    assert (fixed.status, fixed.reload_error_code, fixed.last_reload_error) == ("active", "", None)


@pytest.mark.django_db
@pytest.mark.needs_postgresql  # SQLite stores a value of any length; PostgreSQL refuses one past its column
def test_a_package_the_database_refuses_never_rolls_back_the_others(extensions_root, tmp_path, settings):
    deep = tmp_path
    while len(str(deep)) < 1100:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    install_fixture(deep, "reloadable")
    install_fixture(extensions_root, "valid_minimal")
    settings.EXTENSIONS = {**settings.EXTENSIONS, "DIRS": [extensions_root, deep]}

    report = extension_discover(load_new=True)

    assert report.created == ["valid-minimal"] and report.loaded == ["valid-minimal"]
    assert list(report.store_errors) == ["reloadable"]
    assert "the database refused" in report.store_errors["reloadable"]
    assert list(Extension.objects.values_list("name", flat=True)) == ["valid-minimal"]


def test_a_version_longer_than_its_column_is_a_manifest_problem(extensions_root):
    write_extension(extensions_root, "long-version", version="1.0.0-" + "a" * 100)

    [item] = discover_extensions(dirs=[extensions_root], **LIMITS)

    assert item.error.problems[0].field == "version"
    assert "(got 106 characters, at most 64)" in item.error.problems[0].message
