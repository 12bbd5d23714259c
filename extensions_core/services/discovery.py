"""Rescan the extension sources and bring the extension rows in line with what is on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db import DatabaseError, transaction
from django.utils import timezone

from extensions_core.conf import extension_settings
from extensions_core.discovery import DiscoveredExtension, discover_extensions
from extensions_core.exceptions import ExtensionConflictError, ExtensionError
from extensions_core.manifest import MANIFEST_FILENAME
from extensions_core.models import Extension
from extensions_core.services.lifecycle import extension_load, extension_retire
from extensions_core.services.propagation import registry_generation_bump
from extensions_core.services.records import NO_RELOAD_ERROR, extension_save, manifest_fields
from extensions_core.services.tasks import task_definitions_sync

Status = Extension.Status
BUSY = (Status.ACTIVE, Status.LOADING, Status.UNLOADING)


@dataclass
class DiscoveryReport:
    """What a rescan found and changed."""

    found: list[DiscoveredExtension] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    load_errors: dict[str, str] = field(default_factory=dict)
    store_errors: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[DiscoveredExtension]:
        return [item for item in self.found if not item.is_valid]

    def as_dict(self) -> dict:
        """Return the report as plain data (API and --json)."""
        return {
            "found": [
                {
                    "name": item.name,
                    "folder": str(item.folder),
                    "source": item.source,
                    "valid": item.is_valid,
                    "error": item.error.as_dict() if item.error else None,
                }
                for item in self.found
            ],
            "created": self.created,
            "updated": self.updated,
            "missing": self.missing,
            "loaded": self.loaded,
            "load_errors": self.load_errors,
            "store_errors": self.store_errors,
        }


def extension_discover(*, load_new: bool = True) -> DiscoveryReport:
    """Rescan the configured folders and entry points; create, refresh and retire rows.

    New valid packages are enabled when AUTO_ENABLE_DISCOVERED is on and, with
    *load_new*, loaded. Rows of active extensions keep the manifest they run
    (reload picks up changes). A package whose files vanished is unloaded and
    put in `error` with code extension_source_missing. Broken packages are
    reported in the result and, when their name is readable, recorded on their row.
    """
    limits = extension_settings()
    rows = {row.name: row for row in Extension.objects.all()}
    found = discover_extensions(
        dirs=limits.dirs,
        entry_point_group=limits.entry_point_group if limits.entry_points else None,
        known_folders={name: row.path for name, row in rows.items()},
        max_bytes=limits.manifest_max_bytes,
        max_depth=limits.manifest_max_depth,
    )
    report = DiscoveryReport(found=found)
    now = timezone.now()
    with transaction.atomic():
        # Re-read under the row locks, in one query: a load or unload may have finished during the scan.
        current = {row.name: row for row in Extension.objects.select_for_update()}
        seen = set()
        for item in found:
            if item.name is None or isinstance(item.error, ExtensionConflictError):
                continue
            seen.add(item.name)
            row = current.get(item.name)
            try:
                # One package's row in a savepoint of its own: a value the database refuses
                # rolls back that package only, never the others' registration.
                with transaction.atomic():
                    if row is None:
                        _create(item, now, enabled=limits.auto_enable_discovered)
                        report.created.append(item.name)
                    elif _refresh(row, item, now):
                        report.updated.append(item.name)
            except DatabaseError as error:
                report.store_errors[item.name] = (
                    f'Extension "{item.name}": the database refused what {item.folder} declares '
                    f"({type(error).__name__}: {error}); it was not registered or updated".replace("\n", " ")
                )
        for name, row in current.items():
            # Only a package whose files are gone is retired: a folder merely left
            # out of the configured roots (a typo in KAREN_EXTENSION_DIRS) keeps running.
            if name in seen or not row.is_present or (Path(row.path) / MANIFEST_FILENAME).exists():
                continue
            report.missing.append(name)
        registry_generation_bump()
    # Through the lifecycle service, after the scan's transaction: extension code (shutdown) runs outside it,
    # and beat rows, events and every process's registry follow as for any unload.
    for name in report.missing:
        extension_retire(name=name)
    if load_new:
        for name in report.created:
            _load_new(name, report)
    return report


def _state_of(item: DiscoveredExtension) -> dict:
    if item.is_valid:
        return {
            **manifest_fields(item.manifest),
            "error_code": "",
            "error_message": "",
            "error_traceback": "",
        }
    error: ExtensionError = item.error
    return {"error_code": error.code, "error_message": error.message, "error_traceback": ""}


def _create(item: DiscoveredExtension, now, *, enabled: bool) -> None:
    status = Status.NOT_LOADED if item.is_valid else Status.ERROR
    if not enabled:
        status = Status.DISABLED if item.is_valid else Status.ERROR
    row = Extension.objects.create(
        name=item.name,
        path=str(item.folder),
        source=item.source,
        entry_point=item.entry_point,
        is_enabled=enabled,
        status=status,
        status_changed_at=now,
        discovered_at=now,
        **_state_of(item),
    )
    if item.is_valid:
        task_definitions_sync(extension=row, manifest=item.manifest)


def _refresh(row: Extension, item: DiscoveredExtension, now) -> bool:
    """Refresh a known row from disk; return whether anything but the timestamp changed.

    A running extension keeps the manifest it runs (a reload applies a new
    one), but a manifest on disk that no longer validates is recorded as its
    reload error, so every interface shows why the next reload would fail.
    """
    changes: dict = {"discovered_at": now, "is_present": True}
    if row.status not in BUSY:
        changes.update(_state_of(item), path=str(item.folder), source=item.source, entry_point=item.entry_point)
        if item.is_valid and row.status == Status.ERROR:
            changes["status"] = Status.NOT_LOADED if row.is_enabled else Status.DISABLED
        elif not item.is_valid:
            changes["status"] = Status.ERROR
    elif not item.is_valid:
        error: ExtensionError = item.error
        message = f"the manifest on disk does not validate: {error.message}"
        if (row.reload_error_code, row.reload_error_message) != (error.code, message):
            changes.update(
                reload_error_code=error.code,
                reload_error_message=message,
                reload_error_traceback="",
                reload_failed_at=now,
            )
    elif row.reload_error_code.startswith("manifest_"):
        changes.update(NO_RELOAD_ERROR)  # the manifest was fixed; a code failure stays until a reload succeeds
    if "status" in changes and changes["status"] == row.status:
        del changes["status"]
    changed = any(getattr(row, key) != value for key, value in changes.items() if key != "discovered_at")
    if "status" in changes or "reload_error_code" in changes:
        extension_save(row, **changes)  # the one path of status changes: events, beat rows, every registry
    else:
        for key, value in changes.items():
            setattr(row, key, value)
        row.save(update_fields=[*changes, "updated_at"])
    if item.is_valid and row.status not in BUSY:
        task_definitions_sync(extension=row, manifest=item.manifest)
    return changed


def _load_new(name: str, report: DiscoveryReport) -> None:
    row = Extension.objects.get(name=name)
    if not row.is_enabled or row.status != Status.NOT_LOADED:
        return
    try:
        extension_load(name=name)
    except ExtensionError as error:
        report.load_errors[name] = error.message
    else:
        report.loaded.append(name)
