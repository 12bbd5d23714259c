"""Imports an extension's code in a child process and reports what does not match its manifest.

`extensions validate --import` calls `code_problems()`. The child (`main()`,
run as `python -m extensions_core.inspection FOLDER`) imports and constructs
the extension as a load does, without initializing it, and checks its routes
and task functions; an import that hangs or crashes ends the child, never the
command, and is reported as a problem of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from django.conf import settings

from extensions_core.conf import extension_settings
from extensions_core.configuration import config_defaults
from extensions_core.exceptions import ExtensionLoadError, ManifestError, ManifestProblem
from extensions_core.loader import (
    check_ui_contributions,
    forget_modules,
    instantiate_extension,
    module_name_of,
    route_differences,
)
from extensions_core.manifest import Manifest, read_manifest
from extensions_core.sdk import BaseExtension

DEFAULT_TIMEOUT_SECONDS = 30.0


def code_problems(folder: Path, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> list[ManifestProblem]:
    """Import the extension in *folder* in a child process; return each problem found, at its manifest path.

    A child still running after *timeout_seconds* is killed with everything it
    started; that, and a child that dies without a report, is a problem too.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "extensions_core.inspection", str(Path(folder).resolve())],
        cwd=settings.BASE_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    try:
        report, errors = child.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(child.pid)
        report, errors = _remaining_output(child)
    finally:
        # Nothing the extension started outlives the check.
        _kill_group(child.pid)
    try:
        return [ManifestProblem(**item) for item in json.loads(report.strip().splitlines()[-1])]
    except (ValueError, IndexError, TypeError):
        pass
    if timed_out:
        message = (
            f"importing the extension and checking its routes and task functions did not finish within "
            f"{timeout_seconds:g} s: look for module-level code that blocks (a network call, a loop, a sleep), "
            "or move it into initialize()"
        )
        return [ManifestProblem("entrypoint", "extension_import_timeout", message)]
    return [ManifestProblem("entrypoint", "extension_import_crashed", _crash_message(child.returncode, errors))]


def _remaining_output(child: subprocess.Popen) -> tuple[str, str]:
    """Return what a killed child wrote; ("", "") if a process that left its group still holds the pipes."""
    try:
        return child.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        return "", ""


def _crash_message(returncode: int, errors: str) -> str:
    if returncode < 0:
        how = f"was killed by signal {-returncode} ({signal.strsignal(-returncode)})"
    else:
        how = f"exited with code {returncode}"
    last = [line for line in errors.strip().splitlines() if line.strip()][-1:]
    said = f" after printing: {last[0].strip()}" if last else ""
    return (
        f"the process importing the extension {how} before it could report{said}; "
        "look for module-level code that ends or crashes the interpreter (os._exit, os.kill, a native extension)"
    )


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def inspect_extension(manifest: Manifest, folder: Path) -> list[ManifestProblem]:
    """Import and construct the extension in *folder* as a load does, without initializing it; return its problems.

    The loader's checks of routes and task functions are listed at once, each
    at its manifest path; its check of pages and widgets reports its first
    problem at "ui". Runs the extension's module-level code in this process:
    call it in a child (code_problems() does). Its modules are forgotten after.
    """
    try:
        try:
            instance = instantiate_extension(manifest=manifest, folder=folder, config=config_defaults(manifest))
        except ExtensionLoadError as error:
            return [ManifestProblem("entrypoint", error.code, load_error_detail(error, folder))]
        problems = contribution_problems(instance, manifest)
        try:
            check_ui_contributions(instance, manifest, Path(folder).resolve())
        except ExtensionLoadError as error:
            problems.append(ManifestProblem("ui", error.code, load_error_detail(error, folder)))
        return problems
    finally:
        forget_modules(module_name_of(manifest.name))


def contribution_problems(instance: BaseExtension, manifest: Manifest) -> list[ManifestProblem]:
    """Return every route and task function of *instance* that does not match *manifest*, at its manifest path.

    What the loader's check_contributions refuses one at a time, listed at once.
    """
    try:
        undeclared, missing = route_differences(instance, manifest)
    except ExtensionLoadError as error:
        return [ManifestProblem("api.endpoints", error.code, load_error_detail(error))]
    problems = [
        ManifestProblem(
            "api.endpoints",
            "extension_undeclared_route",
            f'the extension routes {method} {path} but the manifest does not declare it: add {{"path": "{path}", '
            f'"methods": ["{method}"], "permissions": [...]}} to api.endpoints, or remove the @route',
        )
        for path, method in undeclared
    ]
    for index, endpoint in enumerate(manifest.endpoints):
        absent = [method for method in endpoint.methods if (endpoint.path, method) in missing]
        if absent:
            field = "path" if len(absent) == len(endpoint.methods) else "methods"
            problems.append(
                ManifestProblem(
                    f"api.endpoints[{index}].{field}",
                    "extension_route_missing",
                    f"no @route method provides {', '.join(absent)} {endpoint.path}: add "
                    f'@route("{endpoint.path}", methods={absent!r}) to a method of the extension class, '
                    "or remove it from the manifest",
                )
            )
    for index, task in enumerate(manifest.tasks):
        try:
            instance.get_task_function(task.function)
        except Exception as error:
            problems.append(
                ManifestProblem(
                    f"background_tasks[{index}].function",
                    "extension_task_function_missing",
                    f'task "{task.name}": "{task.function}" cannot be resolved ({type(error).__name__}: {error}); '
                    "a bare name is a method of the extension class, a dotted one (tasks.collect) a function "
                    "in a module of the package",
                )
            )
    return problems


def load_error_detail(error: ExtensionLoadError, folder: Path | None = None) -> str:
    """Return *error*'s message without the extension's name and, given *folder*, the file and line it came from."""
    detail = error.message.removeprefix(f'Extension "{error.extension}": ')
    cause = error.__cause__
    if folder is None or cause is None:
        return detail
    root = Path(folder).resolve()
    places = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(cause.__traceback__)]
    if isinstance(cause, SyntaxError) and cause.filename:
        places.append((cause.filename, cause.lineno))
    inside = [(Path(name).resolve(), line) for name, line in places if Path(name).resolve().is_relative_to(root)]
    if not inside:
        return detail
    name, line = inside[-1]
    return f"{detail} ({name.relative_to(root)}, line {line})"


def main(arguments: list[str]) -> int:
    """The child's side: import the extension in the folder named by *arguments*, print the problems as JSON."""
    folder = Path(arguments[0])
    report = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    # Whatever the extension prints goes to stderr: stdout carries the report alone.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karen.settings")
    import django

    django.setup()
    limits = extension_settings()
    try:
        manifest = read_manifest(folder, max_bytes=limits.manifest_max_bytes, max_depth=limits.manifest_max_depth)
    except ManifestError as error:
        problems = list(error.problems)
    else:
        problems = inspect_extension(manifest, folder)
    report.write(json.dumps([problem.as_dict() for problem in problems]) + "\n")
    report.flush()
    return 0


if __name__ == "__main__":
    # Exit at once: threads or exit handlers the extension left must not hold the report back.
    os._exit(main(sys.argv[1:]))
