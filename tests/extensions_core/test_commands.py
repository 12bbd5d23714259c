"""The `extensions` and `startextension` commands: tables, JSON, exit codes, one-line reasons."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.sdk import TaskContext
from tests.conftest import CORPUS, FIXTURES, ROOT, install_fixture, write_extension

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("extensions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_list_prints_a_table_of_extensions_with_status(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "import_error")
    run("discover")

    out, _ = run("list")

    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "STATUS", "ENABLED", "CATEGORY", "ERROR"]
    assert lines[1].split() == ["import-error", "1.0.0", "error", "yes", "testing", "extension_import_failed"]
    assert lines[2].split() == ["valid-minimal", "1.0.0", "active", "yes", "testing"]


def test_list_json_is_machine_readable(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    run("discover")

    out, _ = run("list", "--json")

    [item] = json.loads(out)
    assert (item["name"], item["status"], item["is_enabled"]) == ("valid-minimal", "active", True)


def test_show_prints_state_endpoints_and_tasks(extensions_root):
    install_fixture(extensions_root, "with_routes")
    run("discover")

    out, _ = run("show", "with-routes")

    assert "status         active" in out
    assert "GET,POST     /api/extensions/with-routes/items" in out
    assert "Tasks: none" in out


def test_show_of_an_unknown_extension_fails_with_one_line():
    with pytest.raises(CommandError) as caught:
        run("show", "ghost-extension")

    assert str(caught.value).startswith('Extension "ghost-extension": no such extension')
    assert "\n" not in str(caught.value)


def test_validate_accepts_a_valid_folder_and_prints_warnings(tmp_path):
    out, _ = run("validate", str(CORPUS / "iot-smart-home.json"))

    assert 'warning: webhooks: "webhooks" is not a known key and is ignored' in out
    assert out.rstrip().endswith("is valid (1 warning)")


def test_validate_strict_turns_warnings_into_a_failure():
    with pytest.raises(CommandError) as caught:
        run("validate", "--strict", str(CORPUS / "iot-smart-home.json"))

    assert "is not valid: 1 error" in str(caught.value)


def test_validate_lists_every_problem_and_exits_non_zero():
    result = subprocess.run(
        [sys.executable, "manage.py", "extensions", "validate", str(CORPUS / "time-query.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert 'error: author: required field "author" is missing' in result.stdout
    assert 'error: license: required field "license" is missing' in result.stdout
    assert (
        result.stderr.strip().splitlines()[-1] == f"CommandError: {CORPUS / 'time-query.json'} is not valid: 2 errors"
    )


def test_validate_json_reports_errors_and_warnings_separately():
    with pytest.raises(CommandError):
        call_command(
            "extensions", "validate", "--json", str(CORPUS / "response-formatting.json"), stdout=(out := StringIO())
        )

    report = json.loads(out.getvalue())
    assert report["valid"] is False
    assert [(item["field"], item["code"]) for item in report["errors"]] == [("permissions", "manifest_wrong_type")]
    assert ("api.format_response", "manifest_unknown_key") in [
        (item["field"], item["code"]) for item in report["warnings"]
    ]


def test_validate_import_prints_code_problems_like_manifest_problems_and_exits_non_zero():
    folder = FIXTURES / "task_function_missing"

    result = subprocess.run(
        [sys.executable, "manage.py", "extensions", "validate", "--import", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith('error: background_tasks[0].function: task "ghost": "no_such_method" cannot be resolved')
    assert line.endswith("[extension_task_function_missing]")
    assert result.stderr.strip().splitlines()[-1] == f"CommandError: {folder} is not valid: 1 error"


def test_validate_import_json_lists_the_code_problems_as_errors():
    manifest = FIXTURES / "undeclared_route" / "extension.json"
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("extensions", "validate", "--import", "--json", str(manifest), stdout=out)

    report = json.loads(out.getvalue())
    assert (report["valid"], report["imported"], report["warnings"]) == (False, True, [])
    assert [(item["field"], item["code"]) for item in report["errors"]] == [
        ("api.endpoints", "extension_undeclared_route")
    ]


def test_validate_import_accepts_a_package_whose_code_matches_its_manifest():
    out, _ = run("validate", "--import", str(FIXTURES / "with_routes"))

    assert out.strip() == f"{FIXTURES / 'with_routes'} is valid; its code imports and matches the manifest"


def test_validate_import_leaves_the_code_of_an_invalid_manifest_alone(tmp_path):
    folder = write_extension(tmp_path, "broken-both", code="raise SystemExit('never imported')\n", license=None)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("extensions", "validate", "--import", str(folder), stdout=out)

    assert out.getvalue().splitlines()[-1] == "not imported: the manifest has errors; fix them first"
    assert "SystemExit" not in out.getvalue()


def test_validate_import_needs_an_extension_package():
    with pytest.raises(CommandError) as caught:
        run("validate", "--import", str(CORPUS / "iot-smart-home.json"))

    assert "--import needs an extension folder or its extension.json" in str(caught.value)


def test_lifecycle_subcommands_print_the_new_state(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    run("discover", "--no-load")

    loaded, _ = run("load", "valid-minimal")
    reloaded, _ = run("reload", "valid-minimal")
    unloaded, _ = run("unload", "valid-minimal")
    disabled, _ = run("disable", "valid-minimal")
    enabled, _ = run("enable", "valid-minimal")

    assert loaded.strip() == "valid-minimal 1.0.0: active (enabled, revision 1)"
    assert reloaded.strip() == "valid-minimal 1.0.0: active (enabled, revision 2)"
    assert unloaded.strip() == "valid-minimal 1.0.0: not_loaded (enabled, revision 2)"
    assert disabled.strip() == "valid-minimal 1.0.0: disabled (disabled, revision 2)"
    assert enabled.strip() == "valid-minimal 1.0.0: active (enabled, revision 3)"


def test_unload_with_dependents_fails_unless_cascading(extensions_root):
    install_fixture(extensions_root, "dependency_base")
    install_fixture(extensions_root, "dependency_child")
    run("discover")

    with pytest.raises(CommandError) as caught:
        run("unload", "dep-base")
    run("unload", "dep-base", "--cascade")

    assert "is needed by dep-child" in str(caught.value)
    assert set(Extension.objects.values_list("status", flat=True)) == {"not_loaded"}


def test_a_failed_load_exits_non_zero_with_the_reason(extensions_root):
    install_fixture(extensions_root, "initialize_raises")
    run("discover", "--no-load")

    with pytest.raises(CommandError) as caught:
        run("load", "initialize-raises")

    assert str(caught.value) == (
        'Extension "initialize-raises": initialize() raised RuntimeError: database unreachable'
    )


def test_discover_reports_broken_packages_next_to_good_ones(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "duplicate_name_a")
    install_fixture(extensions_root, "duplicate_name_b")

    out, err = run("discover")

    assert "duplicate-name  directory  error: extension_duplicate_name" in out
    assert "3 found, 2 new, 0 updated, 0 missing, 2 loaded" in out
    assert "the name is already taken by" in err


def test_startextension_creates_a_skeleton_that_validates_and_loads(extensions_root):
    out = StringIO()
    call_command("startextension", "weather-station", stdout=out)
    run("validate", "--strict", str(extensions_root / "weather-station"))

    run("discover")

    assert f"Created {extensions_root / 'weather-station'}" in out.getvalue()
    assert Extension.objects.get(name="weather-station").status == "active"
    instance = registry.entries["weather-station"].instance
    assert [route.path for route in instance.get_routes()] == ["/echo", "/ping"]
    context = TaskContext("1", "example_task", "weather-station", {}, None, logging.getLogger("test"))
    assert instance.get_task_function("example_task")(context, greeting="hi") == {"greeting": "hi"}
    assert list(instance.get_pages()) == ["/weather-station"] and list(instance.get_widgets()) == ["summary"]


def test_startextensions_page_and_widget_work_as_generated(extensions_root, admin_client):
    call_command("startextension", "weather-station", stdout=StringIO())
    run("discover")

    page = admin_client.get("/admin/extensions/weather-station/weather-station")
    widget = admin_client.get("/admin/extensions/weather-station/widgets/summary/")
    dashboard = admin_client.get("/admin/").content.decode()

    assert page.status_code == 200
    assert "Weather Station 0.1.0 answered" in page.content.decode() and "No runs yet." in page.content.decode()
    assert "<strong>0</strong> calls answered by this web process." in widget.content.decode()
    assert 'data-navigation-item="weather-station/weather-station"' in dashboard
    assert 'data-widget="weather-station:summary"' in dashboard


def test_startextension_refuses_a_reserved_name(extensions_root):
    with pytest.raises(CommandError) as caught:
        call_command("startextension", "system")

    assert "reserved" in str(caught.value)
    assert list(extensions_root.iterdir()) == []


def test_startextension_refuses_an_existing_folder(extensions_root):
    (extensions_root / "taken-name").mkdir()

    with pytest.raises(CommandError) as caught:
        call_command("startextension", "taken-name")

    assert "already exists" in str(caught.value)


def test_acting_for_a_user_applies_the_same_access_rule_as_the_api(extensions_root):
    from django.contrib.auth import get_user_model

    from extensions_core.permissions import grant

    install_fixture(extensions_root, "valid_minimal")
    run("discover")
    users = get_user_model()
    viewer = users.objects.create_user("viewer")
    users.objects.create_user("stranger")
    manager = users.objects.create_user("manager")
    extension = Extension.objects.get(name="valid-minimal")
    grant(viewer, "view_extension", extension)
    grant(manager, "manage_extension", extension)

    with pytest.raises(CommandError) as hidden:
        run("unload", "valid-minimal", "--as-user", "stranger")
    with pytest.raises(CommandError) as refused:
        run("unload", "valid-minimal", "--as-user", "viewer")
    out, _ = run("unload", "valid-minimal", "--as-user", "manager")

    assert str(hidden.value).startswith('Extension "valid-minimal": no such extension')
    assert str(refused.value) == 'viewer may not manage extension "valid-minimal" (needs manage_extension)'
    assert out.strip() == "valid-minimal 1.0.0: not_loaded (enabled, revision 1)"
