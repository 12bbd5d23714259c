"""Writing an extension row's observed state, and reading its manifest from disk (records failures)."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.utils import timezone

from extensions_core.conf import extension_settings
from extensions_core.exceptions import ExtensionError, ExtensionNotFoundError, ExtensionStateError, ManifestError
from extensions_core.manifest import Manifest, read_manifest
from extensions_core.models import Extension
from extensions_core.schedules import schedules_sync
from extensions_core.services.events import extension_event_emit
from extensions_core.services.propagation import registry_generation_bump

Status = Extension.Status


def extension_get(name: str) -> Extension:
    """Return the extension row *name*; raise ExtensionNotFoundError."""
    try:
        return Extension.objects.get(name=name)
    except Extension.DoesNotExist:
        raise ExtensionNotFoundError(name) from None


def extension_save(extension: Extension, **changes) -> Extension:
    """Write *changes* to the row and announce them, in one transaction."""
    previous_status = extension.status
    if "status" in changes:
        changes["status_changed_at"] = timezone.now()
    for field, value in changes.items():
        setattr(extension, field, value)
    with transaction.atomic():
        extension.save(update_fields=[*changes, "updated_at"])
        registry_generation_bump()
        if "status" in changes:
            if (previous_status == Status.ACTIVE) != (extension.status == Status.ACTIVE):
                schedules_sync(extension=extension)  # beat rows run only while the extension is active
            _announce(extension, previous_status)
    return extension


def _announce(extension: Extension, previous_status: str) -> None:
    """Emit extension.loaded / unloaded / failed for a status change (after commit)."""
    status = extension.status
    if status == Status.ACTIVE:
        extension_event_emit(event_type="extension.loaded", extension=extension)
    elif status == Status.ERROR and previous_status != Status.ERROR:
        extension_event_emit(event_type="extension.failed", extension=extension)
    elif status in (Status.NOT_LOADED, Status.DISABLED) and previous_status == Status.UNLOADING:
        extension_event_emit(event_type="extension.unloaded", extension=extension)


def extension_record_error(extension: Extension, error: ExtensionError) -> Extension:
    """Put *extension* in `error` with the code, message and traceback of *error*."""
    return extension_save(
        extension,
        status=Status.ERROR,
        error_code=error.code,
        error_message=error.message,
        error_traceback=getattr(error, "traceback", "") or "",
    )


# The row fields of a reload error, cleared (after a successful load or reload, or an unload).
NO_RELOAD_ERROR = {
    "reload_error_code": "",
    "reload_error_message": "",
    "reload_error_traceback": "",
    "reload_failed_at": None,
}


def extension_record_reload_error(extension: Extension, error: ExtensionError) -> Extension:
    """Record why the version on disk cannot replace the running one; the status (and the running version) stay."""
    return extension_save(
        extension,
        reload_error_code=error.code,
        reload_error_message=error.message,
        reload_error_traceback=getattr(error, "traceback", "") or "",
        reload_failed_at=timezone.now(),
    )


def manifest_fields(manifest: Manifest) -> dict:
    """Return the row fields copied from a manifest."""
    return {
        "version": manifest.version,
        "display_name": manifest.display_name,
        "description": manifest.description,
        "author": manifest.author,
        "license": manifest.license,
        "category": manifest.category,
        "manifest": manifest.document,
        "manifest_warnings": [problem.as_dict() for problem in manifest.warnings],
    }


def extension_manifest_on_disk(extension: Extension) -> Manifest:
    """Return the manifest on disk of *extension*.

    Raise ManifestError (naming the extension) when it does not validate,
    ExtensionStateError when it now names another extension.
    """
    limits = extension_settings()
    try:
        manifest = read_manifest(
            Path(extension.path), max_bytes=limits.manifest_max_bytes, max_depth=limits.manifest_max_depth
        )
    except ManifestError as error:
        if error.extension is None:
            raise ManifestError(error.problems, extension=extension.name) from None
        raise
    if manifest.name != extension.name:
        raise ExtensionStateError(
            f'extension.json in {extension.path} now names it "{manifest.name}"; '
            "run `manage.py extensions discover` to register the new name",
            extension=extension.name,
            code="extension_renamed",
        )
    return manifest


def extension_read_manifest(extension: Extension) -> Manifest:
    """Return the manifest on disk of *extension*; record its problems on the row (status error) and raise them."""
    try:
        return extension_manifest_on_disk(extension)
    except (ManifestError, ExtensionStateError) as error:
        extension_record_error(extension, error)
        raise
