"""Load, unload, reload, enable and disable extensions; state recorded on the row.

Each service validates everything it can before it writes, records failures
(code, message, traceback) on the row, and bumps the change marker so every
process follows within a second. Extension code runs outside transactions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from traceback import format_exception

from django.db import transaction
from django.utils import timezone

from extensions_core.conf import extension_settings
from extensions_core.configuration import effective_config
from extensions_core.dependencies import dependents_of
from extensions_core.exceptions import (
    ExtensionDependencyError,
    ExtensionError,
    ExtensionLoadError,
    ExtensionStateError,
)
from extensions_core.loader import load_extension, load_extension_beside, shutdown_extension
from extensions_core.manifest import Dependency, Manifest
from extensions_core.manifest.model import parse_dependency
from extensions_core.models import Extension
from extensions_core.registry import LoadedExtension, registry
from extensions_core.services.events import extension_event_emit
from extensions_core.services.planning import ACTOR_CODES, PLATFORM, AccessPolicy, load_plan
from extensions_core.services.propagation import registry_swap_here, registry_unload_here
from extensions_core.services.records import (
    NO_RELOAD_ERROR,
    extension_get,
    extension_manifest_on_disk,
    extension_read_manifest,
    extension_record_error,
    extension_record_reload_error,
    extension_save,
    manifest_fields,
)
from extensions_core.services.tasks import task_definitions_sync
from extensions_core.snapshots import snapshot_take, snapshots_prune
from extensions_core.ui import page_conflicts

Status = Extension.Status


def _is_busy(extension: Extension) -> bool:
    if extension.status not in (Status.LOADING, Status.UNLOADING):
        return False
    # A process that died mid-load leaves "loading" behind; past this age it is stale.
    limit = timedelta(seconds=extension_settings().load_timeout_seconds * 3)
    changed = extension.status_changed_at or extension.updated_at
    return changed is not None and timezone.now() - changed < limit


def _refuse_page_conflicts(extension: Extension, manifest: Manifest) -> None:
    """Raise ExtensionLoadError if a page path of *manifest* is served by another active or loading extension."""
    others = dict(
        Extension.objects.filter(status__in=[Status.ACTIVE, Status.LOADING])
        .exclude(pk=extension.pk)
        .values_list("name", "manifest")
    )
    problems = page_conflicts(manifest, others)
    if problems:
        raise ExtensionLoadError("; ".join(problems), extension=extension.name, code="extension_page_conflict")


def _refuse_if_busy(extension: Extension) -> None:
    if _is_busy(extension):
        raise ExtensionStateError(
            f"is {extension.status} in another request; try again in a moment",
            extension=extension.name,
            code="extension_busy",
        )


def _load_one(extension: Extension, manifest: Manifest) -> Extension:
    """Load one extension whose dependencies are active; record the outcome."""
    with transaction.atomic():
        locked = Extension.objects.select_for_update().get(pk=extension.pk)
        _refuse_if_busy(locked)
        if locked.status == Status.ACTIVE:
            return locked
        if not locked.is_enabled or locked.status == Status.DISABLED:
            # A disable may have committed since the caller looked.
            raise ExtensionStateError("is disabled; enable it first", extension=locked.name, code="extension_disabled")
        extension_save(locked, status=Status.LOADING)
    revision = locked.revision + 1
    try:
        _refuse_page_conflicts(locked, manifest)
        config = effective_config(manifest, locked.config)
        folder, digest = snapshot_take(locked.name, revision, Path(locked.path))
        loaded = load_extension(
            manifest=manifest,
            folder=folder,
            revision=revision,
            config=config,
            timeout=extension_settings().load_timeout_seconds,
        )
    except ExtensionError as error:
        extension_record_error(locked, error)
        raise
    except Exception as error:
        # Never leave the row in "loading": whatever failed is recorded like any load failure.
        failure = ExtensionLoadError(
            f"loading failed: {type(error).__name__}: {error}",
            extension=locked.name,
            traceback="".join(format_exception(error)),
        )
        extension_record_error(locked, failure)
        raise failure from error
    registry_unload_here(locked.name)
    registry.register(replace(loaded, extension_id=locked.pk, config_version=locked.config_version))
    snapshots_prune(locked.name, keep=folder)
    task_definitions_sync(extension=locked, manifest=manifest)
    return extension_save(
        locked,
        status=Status.ACTIVE,
        revision=revision,
        code_digest=digest,
        loaded_at=loaded.loaded_at,
        error_code="",
        error_message="",
        error_traceback="",
        **NO_RELOAD_ERROR,
        **manifest_fields(manifest),
    )


def extension_load(*, name: str, actor: AccessPolicy = PLATFORM) -> Extension:
    """Load *name* and, first, the dependencies it needs, in dependency order.

    Raise ExtensionStateError if it is disabled, already active or busy;
    ExtensionDependencyError (nothing loaded, reason recorded) if a dependency
    is missing, disabled, of an incompatible version or cyclic, or (not
    recorded) invisible to or not manageable by *actor*; ManifestError
    or ExtensionLoadError (recorded on the row) if it cannot be loaded.
    """
    extension = extension_get(name)
    if not extension.is_enabled:
        raise ExtensionStateError("is disabled; enable it first", extension=name, code="extension_disabled")
    if extension.status == Status.ACTIVE:
        raise ExtensionStateError("is already loaded", extension=name, code="extension_already_loaded")
    _refuse_if_busy(extension)
    manifest = extension_read_manifest(extension)
    try:
        plan = load_plan(extension, manifest, actor)
    except ExtensionDependencyError as error:
        if error.code not in ACTOR_CODES:
            extension_record_error(extension, error)
        raise
    for step in plan[:-1]:
        if step.extension.status == Status.ACTIVE:
            continue
        try:
            _load_one(step.extension, step.manifest)
        except ExtensionError as error:
            failure = ExtensionDependencyError(
                f'dependency "{step.extension.name}" failed to load: {error.message}',
                extension=name,
                code="extension_dependency_failed",
            )
            extension_record_error(extension, failure)
            raise failure from error
    return _load_one(extension, manifest)


def _active_requirements() -> dict[str, list[Dependency]]:
    """Return {name: its extension dependencies} of active and loading extensions (one narrow query)."""
    rows = Extension.objects.filter(status__in=[Status.ACTIVE, Status.LOADING]).values_list(
        "name", "manifest__dependencies__extensions"
    )
    requirements = {}
    for name, items in rows:
        parsed = []
        for item in items if isinstance(items, list) else ():
            try:
                parsed.append(parse_dependency(item))
            except ValueError:
                continue
        requirements[name] = parsed
    return requirements


def _active_graph() -> dict[str, list[str]]:
    return {name: [dependency.name for dependency in items] for name, items in _active_requirements().items()}


def _unload_one(extension: Extension, *, final_status: str = Status.NOT_LOADED) -> Extension:
    extension_save(extension, status=Status.UNLOADING)
    warning = registry_unload_here(extension.name)
    changes = {"status": final_status, "error_code": "", "error_message": "", "error_traceback": "", **NO_RELOAD_ERROR}
    if warning:
        changes.update(error_code="extension_shutdown_failed", error_message=warning)
    return extension_save(extension, **changes)


def _dependents_to_unload(extension: Extension, *, cascade: bool, actor: AccessPolicy) -> list[Extension]:
    """Return the active extensions that depend on *extension*, dependents of dependents first.

    Raise ExtensionStateError (naming only what *actor* may see) when there are
    some and the caller did not ask to cascade, or may not manage them all.
    """
    dependents = [extension_get(name) for name in dependents_of(extension.name, _active_graph())]
    if dependents and (not cascade or not all(actor.may_manage(row) for row in dependents)):
        shown = [row.name for row in dependents if actor.may_view(row)]
        hidden = len(dependents) - len(shown)
        if hidden:
            shown.append(f"{hidden} extension{'s' if hidden > 1 else ''} you cannot see")
        advice = "you may not manage all of them" if cascade else "unload those first or ask to cascade"
        raise ExtensionStateError(
            f"is needed by {', '.join(shown)}; {advice}", extension=extension.name, code="extension_has_dependents"
        )
    return dependents


def extension_unload(*, name: str, cascade: bool = False, actor: AccessPolicy = PLATFORM) -> Extension:
    """Unload *name* in every process; with *cascade*, unload what depends on it first.

    Raise ExtensionStateError if it is not loaded, busy, or needed by others (without cascade).
    """
    extension = extension_get(name)
    _refuse_if_busy(extension)
    if extension.status != Status.ACTIVE:
        raise ExtensionStateError(
            f"is not loaded (status: {extension.status})", extension=name, code="extension_not_loaded"
        )
    for dependent in _dependents_to_unload(extension, cascade=cascade, actor=actor):
        _unload_one(dependent)
    return _unload_one(extension)


def extension_reload(*, name: str, actor: AccessPolicy = PLATFORM) -> Extension:
    """Reload *name* with the code and manifest now on disk; load it if it is not active.

    Atomic: the new version is read, checked against its dependencies and
    dependents, imported, checked (routes, task functions) and initialized
    while the running version keeps serving; only then does it take over, here
    at once and in every other process within a second. If any step fails, the
    running version keeps serving, the failure is recorded on the row as its
    reload error (its status does not change) and raised: ManifestError,
    ExtensionDependencyError, ExtensionStateError or ExtensionLoadError.
    """
    extension = extension_get(name)
    if not extension.is_enabled:
        raise ExtensionStateError("is disabled; enable it first", extension=name, code="extension_disabled")
    _refuse_if_busy(extension)
    if extension.status != Status.ACTIVE:
        return extension_load(name=name, actor=actor)
    try:
        manifest = extension_manifest_on_disk(extension)
        load_plan(extension, manifest, actor)
        _refuse_breaking_dependents(extension, manifest, actor)
        _refuse_page_conflicts(extension, manifest)
        new, digest = _load_beside_running(extension, manifest)
    except ExtensionError as error:
        if error.code not in ACTOR_CODES:
            extension_record_reload_error(extension, error)
        raise
    # The registry lock keeps this process's own sync from loading the new revision a second time meanwhile.
    with registry.lock:
        with transaction.atomic():
            locked = Extension.objects.select_for_update().get(pk=extension.pk)
            overtaken = locked.revision != extension.revision or locked.status != Status.ACTIVE
            if not overtaken:
                task_definitions_sync(extension=locked, manifest=manifest)
                extension_save(
                    locked,
                    revision=new.revision,
                    code_digest=digest,
                    loaded_at=new.loaded_at,
                    **NO_RELOAD_ERROR,
                    **manifest_fields(manifest),
                )
                extension_event_emit(event_type="extension.loaded", extension=locked)
        if overtaken:
            shutdown_extension(new, timeout=extension_settings().load_timeout_seconds)
            raise ExtensionStateError(
                f"was {'reloaded' if locked.status == Status.ACTIVE else locked.status} by another request "
                "while this reload was loading it; try again",
                extension=name,
                code="extension_busy",
            )
        registry_swap_here(replace(new, extension_id=locked.pk, config_version=locked.config_version))
    snapshots_prune(name, keep=new.folder)
    return locked


def _load_beside_running(extension: Extension, manifest: Manifest) -> tuple[LoadedExtension, str]:
    """Import, check and initialize the version on disk while the running one goes on; raise ExtensionError.

    Return the new version and the digest of its code (taken as a snapshot, which every process will load).
    """
    running = registry.entries.get(extension.name)
    revision = extension.revision + 1
    try:
        folder, digest = snapshot_take(extension.name, revision, Path(extension.path))
        arguments = dict(
            manifest=manifest,
            folder=folder,
            revision=revision,
            config=effective_config(manifest, extension.config),
            timeout=extension_settings().load_timeout_seconds,
        )
        loaded = load_extension_beside(running, **arguments) if running else load_extension(**arguments)
        return loaded, digest
    except ExtensionError:
        raise
    except Exception as error:
        raise ExtensionLoadError(
            f"loading the new version failed: {type(error).__name__}: {error}",
            extension=extension.name,
            traceback="".join(format_exception(error)),
        ) from error


def _refuse_breaking_dependents(extension: Extension, manifest: Manifest, actor: AccessPolicy) -> None:
    for name, dependencies in _active_requirements().items():
        for dependency in dependencies:
            if dependency.name == extension.name and not dependency.accepts(manifest.version):
                who = f'"{name}"' if actor.may_view(extension_get(name)) else "an extension you cannot see"
                raise ExtensionDependencyError(
                    f"version {manifest.version} on disk would break {who}, which needs "
                    f'"{dependency}"; the running version is kept',
                    extension=extension.name,
                    code="extension_breaks_dependents",
                )


def extension_enable(*, name: str, actor: AccessPolicy = PLATFORM) -> Extension:
    """Mark *name* enabled and load it.

    Raise ExtensionStateError if it is already enabled; a failing load is
    recorded and raised as extension_load raises (the extension stays enabled).
    """
    extension = extension_get(name)
    if extension.is_enabled:
        raise ExtensionStateError("is already enabled", extension=name, code="extension_already_enabled")
    changes = {"is_enabled": True}
    if extension.status == Status.DISABLED:
        changes["status"] = Status.NOT_LOADED
    extension_save(extension, **changes)
    return extension_load(name=name, actor=actor)


def extension_disable(*, name: str, cascade: bool = False, actor: AccessPolicy = PLATFORM) -> Extension:
    """Unload *name* if active and mark it disabled, so no process loads it until enabled.

    Raise ExtensionStateError if it is already disabled, busy, or needed by
    active extensions (without cascade).
    """
    extension = extension_get(name)
    if not extension.is_enabled:
        raise ExtensionStateError("is already disabled", extension=name, code="extension_already_disabled")
    _refuse_if_busy(extension)
    dependents = []
    if extension.status == Status.ACTIVE:
        dependents = _dependents_to_unload(extension, cascade=cascade, actor=actor)
    # The wish is written first, under the row lock, so a load racing this disable refuses.
    with transaction.atomic():
        locked = Extension.objects.select_for_update().get(pk=extension.pk)
        extension_save(locked, is_enabled=False)
    for dependent in dependents:
        _unload_one(dependent)
    if locked.status == Status.ACTIVE:
        return _unload_one(locked, final_status=Status.DISABLED)
    return extension_save(locked, status=Status.DISABLED)


def extension_retire(*, name: str) -> Extension:
    """Take out of service an extension whose package vanished from disk: unloaded everywhere, schedules off.

    Its row stays (history, permissions) in `error` with code
    extension_source_missing until the package is back and discovered again.
    """
    extension = extension_get(name)
    if extension.status == Status.ACTIVE:
        extension_save(extension, status=Status.UNLOADING)
        registry_unload_here(name)
    return extension_save(
        extension,
        status=Status.ERROR,
        is_present=False,
        error_code="extension_source_missing",
        error_message=f'Extension "{name}": its package is gone from {extension.path}; restore it and run '
        "discover, or delete the extension in admin",
        error_traceback="",
        **NO_RELOAD_ERROR,
    )
