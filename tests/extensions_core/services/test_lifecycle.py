"""Load, unload, reload, enable and disable with real fixture packages."""

from __future__ import annotations

import sys

import pytest

from extensions_core.exceptions import (
    ExtensionDependencyError,
    ExtensionLoadError,
    ExtensionNotFoundError,
    ExtensionStateError,
    ManifestError,
)
from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
    registry_generation,
)
from tests.conftest import install_fixture

pytestmark = pytest.mark.django_db


def discover(root, *fixtures):
    for fixture in fixtures:
        install_fixture(root, fixture)
    return extension_discover(load_new=False)


def row(name):
    return Extension.objects.get(name=name)


def test_load_marks_the_row_active_and_registers_the_instance(extensions_root):
    discover(extensions_root, "valid_minimal")
    before = registry_generation()

    extension = extension_load(name="valid-minimal")

    assert extension.status == Extension.Status.ACTIVE
    assert extension.revision == 1
    assert extension.loaded_at is not None
    assert registry.entries["valid-minimal"].instance.initialized is True
    assert registry_generation() > before


def test_load_imports_the_code_under_the_private_namespace(extensions_root):
    discover(extensions_root, "valid_minimal")

    extension_load(name="valid-minimal")

    assert type(registry.entries["valid-minimal"].instance).__module__ == "karen_extensions.valid_minimal"
    assert "valid_minimal" not in sys.modules


def test_extension_modules_never_shadow_real_modules(extensions_root):
    discover(extensions_root, "shadow_attempt")

    extension_load(name="shadow-attempt")

    instance = registry.entries["shadow-attempt"].instance
    assert instance.real_os_file == __import__("os").__file__
    assert instance.real_json_dumps == '{"ok": true}'
    assert instance.own_os_marker == "the extension's own os module"
    assert instance.os_in_sys_modules == __import__("os").__file__
    assert sys.modules["json"].dumps({"a": 1}) == '{"a": 1}'


def test_entrypoint_names_the_class_in_another_module(extensions_root):
    discover(extensions_root, "entrypoint_custom")

    extension_load(name="entrypoint-custom")

    assert registry.entries["entrypoint-custom"].instance.answer == 42


def test_import_error_leaves_the_extension_in_error_with_the_traceback(extensions_root):
    discover(extensions_root, "import_error", "valid_minimal")
    extension_load(name="valid-minimal")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="import-error")

    assert caught.value.code == "extension_import_failed"
    failed = row("import-error")
    assert failed.status == Extension.Status.ERROR
    assert failed.error_code == "extension_import_failed"
    assert "karen_tests_module_that_does_not_exist" in failed.error_message
    assert "ModuleNotFoundError" in failed.error_traceback
    assert registry.names() == ["valid-minimal"]
    assert not [name for name in sys.modules if name.startswith("karen_extensions.import_error")]


def test_initialize_that_raises_is_recorded_and_nothing_stays_registered(extensions_root):
    discover(extensions_root, "initialize_raises")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="initialize-raises")

    assert caught.value.code == "extension_initialize_failed"
    failed = row("initialize-raises")
    assert failed.status == Extension.Status.ERROR
    assert "database unreachable" in failed.error_message
    assert "RuntimeError: database unreachable" in failed.error_traceback
    assert registry.names() == []


def test_initialize_that_hangs_times_out_into_error(extensions_root, settings):
    settings.EXTENSIONS = {**settings.EXTENSIONS, "LOAD_TIMEOUT_SECONDS": 0.5}
    discover(extensions_root, "initialize_hangs")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="initialize-hangs")

    assert caught.value.code == "extension_initialize_timeout"
    assert row("initialize-hangs").status == Extension.Status.ERROR
    assert "within 0.5 s" in row("initialize-hangs").error_message
    assert registry.names() == []


def test_an_undeclared_route_refuses_the_load_naming_the_route(extensions_root):
    discover(extensions_root, "undeclared_route")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="undeclared-route")

    assert caught.value.code == "extension_undeclared_route"
    assert "POST /secret-admin" in caught.value.message
    assert registry.names() == []


def test_declared_routes_are_provided_by_the_instance(extensions_root):
    discover(extensions_root, "with_routes")

    extension_load(name="with-routes")

    routes = registry.entries["with-routes"].instance.get_routes()
    assert [(route.path, route.methods) for route in routes] == [
        ("/items", ("GET", "POST")),
        ("/items/{item_id}", ("GET",)),
    ]


def test_task_functions_resolve_bare_and_dotted(extensions_root):
    discover(extensions_root, "tasks_functions")

    extension_load(name="tasks-functions")

    instance = registry.entries["tasks-functions"].instance
    assert instance.get_task_function("bare_task")(None) == {"bare": True}
    assert instance.get_task_function("jobs.collect")(None) == {"collected": 3}


def test_a_task_function_that_does_not_exist_refuses_the_load(extensions_root):
    discover(extensions_root, "task_function_missing")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="task-function-missing")

    assert caught.value.code == "extension_task_function_missing"
    assert "no_such_method" in caught.value.message


def test_a_package_with_two_extension_classes_must_name_its_entrypoint(extensions_root):
    discover(extensions_root, "two_classes")

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="two-classes")

    assert caught.value.code == "extension_entrypoint_missing"
    assert "FirstExtension, SecondExtension" in caught.value.message


def test_dependencies_load_first_in_dependency_order(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_child", "dependency_grandchild")

    extension_load(name="dep-grandchild")

    assert list(registry.entries) == ["dep-base", "dep-child", "dep-grandchild"]
    assert {row.name: row.status for row in Extension.objects.all()} == {
        "dep-base": "active",
        "dep-child": "active",
        "dep-grandchild": "active",
    }


def test_a_missing_dependency_refuses_the_load_and_records_why(extensions_root):
    discover(extensions_root, "dependency_missing")

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_load(name="dep-missing")

    assert caught.value.code == "extension_dependency_missing"
    assert 'needs "no-such-extension>=1"' in caught.value.message
    assert row("dep-missing").error_code == "extension_dependency_missing"
    assert registry.names() == []


def test_an_incompatible_dependency_version_refuses_the_load_without_loading_the_dependency(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_needs_v2")

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_load(name="dep-needs-v2")

    assert caught.value.code == "extension_dependency_version"
    assert "dep-base 1.2.0 is installed" in caught.value.message
    assert row("dep-base").status == Extension.Status.NOT_LOADED
    assert registry.names() == []


def test_a_dependency_cycle_refuses_the_load_naming_the_cycle(extensions_root):
    discover(extensions_root, "cycle_a", "cycle_b")

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_load(name="cycle-a")

    assert caught.value.code == "extension_dependency_cycle"
    assert "cycle-a -> cycle-b -> cycle-a" in caught.value.message
    assert registry.names() == []
    assert row("cycle-b").status == Extension.Status.NOT_LOADED


def test_a_disabled_dependency_refuses_the_load(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_child")
    extension_disable(name="dep-base")

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_load(name="dep-child")

    assert caught.value.code == "extension_dependency_disabled"


def test_a_failing_dependency_fails_the_dependent_with_the_reason(extensions_root):
    install_fixture(extensions_root, "initialize_raises", as_name="dep-base")
    (extensions_root / "dep-base" / "extension.json").write_text(
        (extensions_root / "dep-base" / "extension.json").read_text().replace('"initialize-raises"', '"dep-base"')
    )
    discover(extensions_root, "dependency_child")

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_load(name="dep-child")

    assert caught.value.code == "extension_dependency_failed"
    assert "database unreachable" in caught.value.message
    assert row("dep-base").status == Extension.Status.ERROR
    assert row("dep-child").status == Extension.Status.ERROR


def test_unloading_an_extension_others_depend_on_is_refused(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_child")
    extension_load(name="dep-child")

    with pytest.raises(ExtensionStateError) as caught:
        extension_unload(name="dep-base")

    assert caught.value.code == "extension_has_dependents"
    assert "dep-child" in caught.value.message
    assert row("dep-base").status == Extension.Status.ACTIVE
    assert registry.names() == ["dep-base", "dep-child"]


def test_cascading_unload_removes_dependents_first(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_child", "dependency_grandchild")
    extension_load(name="dep-grandchild")

    extension_unload(name="dep-base", cascade=True)

    assert registry.names() == []
    assert set(Extension.objects.values_list("status", flat=True)) == {Extension.Status.NOT_LOADED}


def test_unload_runs_shutdown_and_forgets_the_modules(extensions_root):
    discover(extensions_root, "valid_minimal")
    extension_load(name="valid-minimal")

    extension = extension_unload(name="valid-minimal")

    assert extension.status == Extension.Status.NOT_LOADED
    assert registry.names() == []
    assert "karen_extensions.valid_minimal" not in sys.modules


def test_a_shutdown_that_raises_still_unloads_and_keeps_the_message(extensions_root):
    discover(extensions_root, "shutdown_raises")
    extension_load(name="shutdown-raises")

    extension = extension_unload(name="shutdown-raises")

    assert extension.status == Extension.Status.NOT_LOADED
    assert extension.error_code == "extension_shutdown_failed"
    assert "could not close the connection pool" in extension.error_message
    assert registry.names() == []


def test_unloading_an_extension_that_is_not_loaded_is_a_state_error(extensions_root):
    discover(extensions_root, "valid_minimal")

    with pytest.raises(ExtensionStateError) as caught:
        extension_unload(name="valid-minimal")

    assert caught.value.code == "extension_not_loaded"


def test_loading_an_unknown_extension_is_not_found():
    with pytest.raises(ExtensionNotFoundError) as caught:
        extension_load(name="nobody-knows-me")

    assert caught.value.code == "extension_not_found"


def test_reload_runs_the_code_now_on_disk(extensions_root):
    folder = discover(extensions_root, "reloadable") and extensions_root / "reloadable"
    extension_load(name="reloadable")
    assert registry.entries["reloadable"].instance.mark == "one"
    source = folder / "__init__.py"
    source.write_text(source.read_text().replace('MARK = "one"', 'MARK = "two"'))

    extension = extension_reload(name="reloadable")

    assert registry.entries["reloadable"].instance.mark == "two"
    assert extension.revision == 2


def test_reload_picks_up_a_changed_manifest(extensions_root):
    folder = discover(extensions_root, "reloadable") and extensions_root / "reloadable"
    extension_load(name="reloadable")
    manifest = folder / "extension.json"
    manifest.write_text(manifest.read_text().replace('"1.0.0"', '"1.1.0"'))

    extension = extension_reload(name="reloadable")

    assert extension.version == "1.1.0"
    assert registry.entries["reloadable"].manifest.version == "1.1.0"


def test_reload_with_a_broken_manifest_keeps_the_running_version(extensions_root):
    folder = discover(extensions_root, "reloadable") and extensions_root / "reloadable"
    extension_load(name="reloadable")
    (folder / "extension.json").write_text('{"name": "reloadable", "version": "one"}')

    with pytest.raises(ManifestError) as caught:
        extension_reload(name="reloadable")

    assert {problem.field for problem in caught.value.problems} >= {"version", "author"}
    assert row("reloadable").status == Extension.Status.ACTIVE
    assert registry.entries["reloadable"].instance.mark == "one"


def test_reload_that_would_break_a_dependent_is_refused(extensions_root):
    discover(extensions_root, "dependency_base", "dependency_child")
    extension_load(name="dep-child")
    manifest = extensions_root / "dependency_base" / "extension.json"
    manifest.write_text(manifest.read_text().replace('"1.2.0"', '"2.0.0"'))

    with pytest.raises(ExtensionDependencyError) as caught:
        extension_reload(name="dep-base")

    assert caught.value.code == "extension_breaks_dependents"
    assert registry.entries["dep-base"].manifest.version == "1.2.0"


def test_disable_unloads_and_blocks_loading_until_enabled(extensions_root):
    discover(extensions_root, "valid_minimal")
    extension_load(name="valid-minimal")

    disabled = extension_disable(name="valid-minimal")
    with pytest.raises(ExtensionStateError) as caught:
        extension_load(name="valid-minimal")

    assert disabled.status == Extension.Status.DISABLED
    assert disabled.is_enabled is False
    assert caught.value.code == "extension_disabled"
    assert registry.names() == []


def test_enable_loads_a_disabled_extension(extensions_root):
    discover(extensions_root, "valid_minimal")
    extension_disable(name="valid-minimal")

    enabled = extension_enable(name="valid-minimal")

    assert enabled.is_enabled is True
    assert enabled.status == Extension.Status.ACTIVE
    assert registry.names() == ["valid-minimal"]


def test_enabling_an_enabled_extension_is_a_state_error(extensions_root):
    discover(extensions_root, "valid_minimal")

    with pytest.raises(ExtensionStateError) as caught:
        extension_enable(name="valid-minimal")

    assert caught.value.code == "extension_already_enabled"


def test_a_failed_load_can_be_retried_after_the_code_is_fixed(extensions_root):
    discover(extensions_root, "initialize_raises")
    with pytest.raises(ExtensionLoadError):
        extension_load(name="initialize-raises")
    source = extensions_root / "initialize_raises" / "__init__.py"
    source.write_text(source.read_text().replace('raise RuntimeError("database unreachable")', "self.ok = True"))

    extension = extension_load(name="initialize-raises")

    assert extension.status == Extension.Status.ACTIVE
    assert extension.error_code == ""
    assert registry.entries["initialize-raises"].instance.ok is True


def test_loading_then_unloading_leaves_the_registry_as_it_was(extensions_root):
    discover(extensions_root, "valid_minimal", "with_routes")
    extension_load(name="valid-minimal")
    before = registry.snapshot()
    modules_before = {name for name in sys.modules if name.startswith("karen_extensions.")}

    extension_load(name="with-routes")
    extension_unload(name="with-routes")

    assert registry.snapshot() == before
    assert {name for name in sys.modules if name.startswith("karen_extensions.")} == modules_before
