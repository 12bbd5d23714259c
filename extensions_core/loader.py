"""Imports an extension's code under a private namespace and runs its setup/teardown hooks.

The only module that imports extension code. Extension "hello-extension" is
imported as `karen_extensions.hello_extension`, so it can never shadow a real
module; its source is compiled on every load (no bytecode cache), so a
reload always runs the code on disk now.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connections
from django.utils import timezone

from extensions_core.exceptions import ExtensionLoadError
from extensions_core.manifest import Manifest
from extensions_core.registry import LoadedExtension
from extensions_core.sdk import BaseExtension

logger = logging.getLogger(__name__)

NAMESPACE = "karen_extensions"


def module_name_of(name: str) -> str:
    """Return the private module name of extension *name* ("karen_extensions.hello_extension")."""
    return f"{NAMESPACE}.{name.replace('-', '_')}"


class FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compile from source every time: a reload within the same second must see new code."""

    def path_stats(self, path: str) -> dict[str, Any]:
        raise OSError("extension code is always compiled from source")


class ExtensionFinder(importlib.abc.MetaPathFinder):
    """Resolve `karen_extensions.<extension>[.<module>...]` to files inside that extension's folder."""

    def __init__(self) -> None:
        self.roots: dict[str, Path] = {}
        self.lock = threading.Lock()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname == NAMESPACE:
            spec = importlib.machinery.ModuleSpec(NAMESPACE, None, is_package=True)
            spec.submodule_search_locations = []
            return spec
        if not fullname.startswith(NAMESPACE + "."):
            return None
        _, package, *rest = fullname.split(".")
        root = self.roots.get(package)
        if root is None:
            return None
        base = root.joinpath(*rest)
        if base.is_dir():
            if not base.resolve().is_relative_to(root):
                raise ImportError(f"{base} is a symlink leaving the extension folder {root}", name=fullname)
            source = base / "__init__.py"
            if not source.is_file():
                spec = importlib.machinery.ModuleSpec(fullname, _EmptyLoader(), is_package=True)
                spec.submodule_search_locations = [str(base.resolve())]
                return spec
            locations = [str(base.resolve())]
        else:
            source = base.with_suffix(".py")
            if not source.is_file():
                # Answer for the whole namespace: Python's own finders must never load
                # compiled or sourceless modules from (or beyond) an extension folder.
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            locations = None
        if not source.resolve().is_relative_to(root):
            raise ImportError(f"{source} is a symlink leaving the extension folder {root}", name=fullname)
        return importlib.util.spec_from_file_location(
            fullname,
            source,
            loader=FreshSourceLoader(fullname, str(source)),
            submodule_search_locations=locations,
        )


class _EmptyLoader(importlib.abc.Loader):
    """Loader of an extension folder without __init__.py: an empty package."""

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        return None


finder = ExtensionFinder()


def _install_finder() -> None:
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def purge_modules(module_name: str) -> None:
    """Drop *module_name* and its submodules from sys.modules."""
    for loaded in [key for key in sys.modules if key == module_name or key.startswith(module_name + ".")]:
        del sys.modules[loaded]
    importlib.invalidate_caches()


def forget_modules(module_name: str) -> None:
    """Drop the extension's modules and stop resolving its package name."""
    purge_modules(module_name)
    with finder.lock:
        finder.roots.pop(module_name.rpartition(".")[2], None)


def run_with_timeout(function: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Call *function* in a helper thread; return its result or raise what it raised.

    Raise TimeoutError if it has not returned after *timeout* seconds; the
    thread cannot be killed and is left to finish on its own (it is a daemon).
    Coroutines returned by *function* are run to completion in that thread.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            result = function()
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            outcome["result"] = result
        except BaseException as error:  # noqa: BLE001 - carried to the caller, never swallowed
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=f"karen-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what} did not return within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _failure(name: str, code: str, message: str, error: BaseException) -> ExtensionLoadError:
    text = "".join(traceback.format_exception(error))
    return ExtensionLoadError(message, extension=name, code=code, traceback=text)


def extension_class(module: Any, manifest: Manifest) -> type[BaseExtension]:
    """Return the extension class: the manifest's entrypoint, else the one subclass in the package.

    Raise ExtensionLoadError when it is missing, ambiguous or not a BaseExtension.
    """
    name = manifest.name
    if manifest.entrypoint:
        module_path, _, attribute = manifest.entrypoint.partition(":")
        try:
            owner = importlib.import_module(f"{module.__name__}.{module_path}")
        except (Exception, SystemExit) as error:
            raise _failure(
                name,
                "extension_import_failed",
                f'importing module "{module_path}" of entrypoint "{manifest.entrypoint}" failed: '
                f"{type(error).__name__}: {error}",
                error,
            ) from error
        candidate = getattr(owner, attribute, None)
        if not (inspect.isclass(candidate) and issubclass(candidate, BaseExtension)):
            raise ExtensionLoadError(
                f'entrypoint "{manifest.entrypoint}" must name a BaseExtension subclass '
                f"(found {type(candidate).__name__ if candidate is not None else 'nothing'})",
                extension=name,
                code="extension_entrypoint_invalid",
            )
        return candidate
    candidates = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseExtension)
        and value is not BaseExtension
        and value.__module__.startswith(module.__name__)
    ]
    if len(candidates) != 1:
        found = ", ".join(sorted(c.__name__ for c in candidates)) or "none"
        raise ExtensionLoadError(
            f"__init__.py must define exactly one BaseExtension subclass (found: {found}); "
            'or set "entrypoint": "module:Class" in extension.json',
            extension=name,
            code="extension_entrypoint_missing",
        )
    return candidates[0]


def route_differences(
    instance: BaseExtension, manifest: Manifest
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return the (path, method) pairs routed but not declared, and those declared but not routed.

    Raise ExtensionLoadError when get_routes() raises.
    """
    declared = {(endpoint.path, method) for endpoint in manifest.endpoints for method in endpoint.methods}
    try:
        routes = instance.get_routes()
    except Exception as error:
        raise _failure(
            manifest.name,
            "extension_routes_failed",
            f"get_routes() raised {type(error).__name__}: {error}",
            error,
        ) from error
    provided = {(item.path, method) for item in routes for method in item.methods}
    return sorted(provided - declared), sorted(declared - provided)


def check_contributions(instance: BaseExtension, manifest: Manifest, folder: Path | None = None) -> None:
    """Refuse undeclared routes, declared routes without a view, and unresolvable task functions.

    With the package *folder*, also undeclared @page/@widget methods and pages
    or widgets whose template file is missing.
    """
    undeclared, missing = route_differences(instance, manifest)
    if undeclared:
        listed = ", ".join(f"{method} {path}" for path, method in undeclared)
        raise ExtensionLoadError(
            f"provides routes its manifest does not declare: {listed}; declare each in "
            "api.endpoints with its permissions, or remove the @route",
            extension=manifest.name,
            code="extension_undeclared_route",
        )
    if missing:
        listed = ", ".join(f"{method} {path}" for path, method in missing)
        raise ExtensionLoadError(
            f"declares endpoints that no @route method provides: {listed}",
            extension=manifest.name,
            code="extension_route_missing",
        )
    if folder is not None:
        check_ui_contributions(instance, manifest, folder)
    for task in manifest.tasks:
        try:
            instance.get_task_function(task.function)
        except Exception as error:
            raise _failure(
                manifest.name,
                "extension_task_function_missing",
                f'task "{task.name}": function "{task.function}" cannot be resolved: {error}',
                error,
            ) from error


def check_ui_contributions(instance: BaseExtension, manifest: Manifest, folder: Path) -> None:
    """Refuse @page/@widget methods the manifest does not declare, and declared ones without a template file."""
    kinds = (
        ("page", "ui.control_room_pages or ui.admin_pages", {p.path: p for p in manifest.pages}, instance.get_pages),
        ("widget", "ui.dashboard_widgets", {w.name: w for w in manifest.widgets}, instance.get_widgets),
    )
    for kind, where, declared, marked in kinds:
        try:
            provided = marked()
        except Exception as error:
            raise _failure(
                manifest.name, "extension_ui_failed", f"listing its @{kind} methods raised {error!r}", error
            ) from error
        undeclared = sorted(set(provided) - set(declared))
        if undeclared:
            raise ExtensionLoadError(
                f"provides @{kind} methods for {', '.join(undeclared)}, which its manifest does not declare; "
                f"declare each in {where}, or remove the @{kind}",
                extension=manifest.name,
                code="extension_undeclared_ui",
            )
        for key, item in declared.items():
            template = (folder / item.template_path).resolve()
            if not template.is_relative_to(folder.resolve()) or not template.is_file():
                raise ExtensionLoadError(
                    f'{kind} "{key}": its template {item.template_path} is not a file in the extension package; '
                    f'create it, or set the {kind}\'s "template" in {where}',
                    extension=manifest.name,
                    code="extension_ui_template_missing",
                )


def instantiate_extension(*, manifest: Manifest, folder: Path, config: dict[str, Any]) -> BaseExtension:
    """Import the package in *folder* under its private module name and construct its extension class.

    Raise ExtensionLoadError when the import fails, the class is missing or
    ambiguous, or its constructor raises; the caller forgets the modules then.
    """
    _install_finder()
    name = manifest.name
    module_name = module_name_of(name)
    package = module_name.rpartition(".")[2]
    purge_modules(module_name)
    with finder.lock:
        finder.roots[package] = Path(folder).resolve()
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:
        raise _failure(
            name,
            "extension_import_failed",
            f"importing the extension package failed: {type(error).__name__}: {error}",
            error,
        ) from error
    cls = extension_class(module, manifest)
    try:
        return cls(manifest=manifest, config=config, package=module_name)
    except (Exception, SystemExit) as error:
        raise _failure(
            name,
            "extension_construct_failed",
            f"{cls.__name__}() raised {type(error).__name__}: {error}",
            error,
        ) from error


def load_extension(
    *, manifest: Manifest, folder: Path, revision: int, config: dict[str, Any], timeout: float
) -> LoadedExtension:
    """Import, construct, check and initialize the extension in *folder*; return it loaded.

    Raise ExtensionLoadError (with the traceback) when the import fails, the
    class is missing, a contribution is undeclared, or initialize() raises or
    exceeds *timeout*. On failure nothing of the extension stays imported.
    """
    name = manifest.name
    module_name = module_name_of(name)
    root = Path(folder).resolve()
    try:
        instance = instantiate_extension(manifest=manifest, folder=root, config=config)
        check_contributions(instance, manifest, root)
        try:
            run_with_timeout(instance.initialize, timeout=timeout, what=f"{name}.initialize()")
        except TimeoutError as error:
            raise _failure(
                name,
                "extension_initialize_timeout",
                f"initialize() did not return within {timeout:g} s; the load is abandoned",
                error,
            ) from error
        except BaseException as error:
            raise _failure(
                name,
                "extension_initialize_failed",
                f"initialize() raised {type(error).__name__}: {error}",
                error,
            ) from error
    except ExtensionLoadError:
        forget_modules(module_name)
        raise
    return LoadedExtension(
        name=name,
        revision=revision,
        manifest=manifest,
        instance=instance,
        module_name=module_name,
        folder=root,
        loaded_at=timezone.now(),
    )


def load_extension_beside(current: LoadedExtension, **arguments: Any) -> LoadedExtension:
    """Load a new version of *current*'s extension while *current* keeps running; return the new one.

    Takes load_extension's arguments. On failure (ExtensionLoadError, as
    load_extension raises) the running version's modules are put back, so it
    goes on exactly as before; on success the module name belongs to the new
    version, and *current* is to be ended with `shutdown_extension`.
    """
    package = current.module_name.rpartition(".")[2]
    saved_modules = {
        key: module
        for key, module in sys.modules.items()
        if key == current.module_name or key.startswith(current.module_name + ".")
    }
    with finder.lock:
        saved_root = finder.roots.get(package)
    try:
        return load_extension(**arguments)
    except ExtensionLoadError:
        purge_modules(current.module_name)
        sys.modules.update(saved_modules)
        with finder.lock:
            if saved_root is not None:
                finder.roots[package] = saved_root
        raise


def shutdown_extension(loaded: LoadedExtension, *, timeout: float) -> str | None:
    """Run *loaded*'s shutdown(); return a warning if it failed or hung (the caller goes on regardless)."""
    try:
        run_with_timeout(loaded.instance.shutdown, timeout=timeout, what=f"{loaded.name}.shutdown()")
    except TimeoutError as error:
        warning = f"shutdown() did not return within {timeout:g} s"
        logger.warning('Extension "%s": %s', loaded.name, warning, exc_info=error)
        return warning
    except BaseException as error:  # noqa: BLE001 - reported to the caller
        warning = f"shutdown() raised {type(error).__name__}: {error}"
        logger.warning('Extension "%s": %s', loaded.name, warning, exc_info=error)
        return warning
    return None


def unload_extension(loaded: LoadedExtension, *, timeout: float) -> str | None:
    """Run shutdown() and drop the extension's modules; return a warning if shutdown failed.

    A failing or hanging shutdown() does not stop the unload: its error is
    logged and returned so the caller can report it.
    """
    warning = shutdown_extension(loaded, timeout=timeout)
    forget_modules(loaded.module_name)
    return warning
