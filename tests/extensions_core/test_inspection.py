"""Importing an extension's code in a child process: what does not match the manifest, at its manifest path."""

from __future__ import annotations

import time

import psutil
import pytest

from extensions_core.inspection import code_problems
from tests.conftest import FIXTURES, SHIPPED, SHIPPED_NAMES, base_manifest, write_extension

ROUTED_A_AND_C = """
from extensions_core.sdk import BaseExtension, route


class PartlyRoutedExtension(BaseExtension):
    @route("/a", methods=["GET"])
    def a(self, request):
        return {}

    @route("/c", methods=["GET"])
    def c(self, request):
        return {}

    @route("/d", methods=["DELETE"])
    def d(self, request):
        return {}
"""


def endpoint(path: str, *methods: str) -> dict:
    return {"path": path, "methods": list(methods), "permissions": []}


@pytest.mark.parametrize(
    ("fixture", "field", "code"),
    [
        ("undeclared_route", "api.endpoints", "extension_undeclared_route"),
        ("task_function_missing", "background_tasks[0].function", "extension_task_function_missing"),
        ("import_error", "entrypoint", "extension_import_failed"),
        ("two_classes", "entrypoint", "extension_entrypoint_missing"),
    ],
)
def test_a_code_problem_is_reported_at_its_manifest_path(fixture, field, code):
    problems = code_problems(FIXTURES / fixture)

    assert [(problem.field, problem.code) for problem in problems] == [(field, code)]
    assert not problems[0].is_warning


def test_every_route_problem_and_task_function_problem_is_listed_at_once(tmp_path):
    manifest = base_manifest(
        "partly-routed",
        api={"endpoints": [endpoint("/a", "GET"), endpoint("/b", "GET"), endpoint("/c", "GET", "POST")]},
        background_tasks=[{"name": "fine", "function": "a"}, {"name": "ghost", "function": "jobs.collect"}],
    )
    folder = write_extension(tmp_path, "partly-routed", manifest=manifest, code=ROUTED_A_AND_C)

    problems = code_problems(folder)

    assert [(problem.field, problem.code) for problem in problems] == [
        ("api.endpoints", "extension_undeclared_route"),
        ("api.endpoints[1].path", "extension_route_missing"),
        ("api.endpoints[2].methods", "extension_route_missing"),
        ("background_tasks[1].function", "extension_task_function_missing"),
    ]
    assert "DELETE /d" in problems[0].message and "to api.endpoints" in problems[0].message
    assert "@route(\"/b\", methods=['GET'])" in problems[1].message
    assert "no @route method provides POST /c" in problems[2].message
    assert "No module named" in problems[3].message


def test_an_import_error_names_the_file_and_line_it_came_from():
    [problem] = code_problems(FIXTURES / "import_error")

    assert problem.message == (
        "importing the extension package failed: ModuleNotFoundError: No module named "
        "'karen_tests_module_that_does_not_exist' (__init__.py, line 3)"
    )


@pytest.mark.parametrize("folder", [*(SHIPPED / name for name in SHIPPED_NAMES), FIXTURES / "with_routes",
                                    FIXTURES / "tasks_functions", FIXTURES / "entrypoint_custom"])  # fmt: skip
def test_packages_that_load_have_no_code_problems(folder):
    assert code_problems(folder) == []


def test_initialize_is_not_run():
    """initialize() is the platform's to run, under its load timeout; validating must not open clients or hang."""
    assert code_problems(FIXTURES / "initialize_hangs", timeout_seconds=10) == []


def test_an_import_that_hangs_is_killed_and_reported(tmp_path):
    pid_file = tmp_path / "pid"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
    folder = write_extension(tmp_path, "hangs-at-import", code=code)
    started = time.monotonic()

    problems = code_problems(folder, timeout_seconds=3)

    assert [(problem.field, problem.code) for problem in problems] == [("entrypoint", "extension_import_timeout")]
    assert "did not finish within 3 s" in problems[0].message
    assert time.monotonic() - started < 15
    assert not psutil.pid_exists(int(pid_file.read_text()))


def test_an_import_that_crashes_the_interpreter_is_reported(tmp_path):
    code = "import os, signal\nprint('about to crash', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
    folder = write_extension(tmp_path, "crashes-at-import", code=code)

    problems = code_problems(folder)

    assert [(problem.field, problem.code) for problem in problems] == [("entrypoint", "extension_import_crashed")]
    assert "was killed by signal 9" in problems[0].message
    assert "after printing: about to crash" in problems[0].message


def test_a_page_the_manifest_does_not_declare_is_reported_at_ui(tmp_path):
    code = (
        "from extensions_core.sdk import BaseExtension, page\n\n\n"
        "class PagedExtension(BaseExtension):\n"
        "    @page('/report')\n"
        "    def report(self, request):\n"
        "        return {}\n"
    )
    folder = write_extension(tmp_path, "paged", code=code)

    problems = code_problems(folder)

    assert [(problem.field, problem.code) for problem in problems] == [("ui", "extension_undeclared_ui")]
    assert "/report" in problems[0].message
