"""Keeps every process's registry in step with the database, within a second of any change.

Writers bump one shared generation counter in the same transaction as the
state change; each process compares it with the generation it last applied
at most every CHANGE_CHECK_INTERVAL_SECONDS (one indexed read), and only then
re-reads the active extensions and loads or unloads what differs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from extensions_core.conf import extension_settings
from extensions_core.configuration import effective_config
from extensions_core.dependencies import dependency_order
from extensions_core.exceptions import ExtensionError
from extensions_core.loader import load_extension, load_extension_beside, shutdown_extension, unload_extension
from extensions_core.manifest import Manifest
from extensions_core.manifest.model import dependency_names
from extensions_core.models import Extension, RegistryState
from extensions_core.registry import LoadedExtension, registry
from extensions_core.snapshots import snapshot_for

logger = logging.getLogger(__name__)
MARKER_ID = 1


def registry_generation_bump() -> None:
    """Announce an extension state change to every process; call inside the changing transaction."""
    updated = RegistryState.objects.filter(pk=MARKER_ID).update(
        generation=F("generation") + 1, changed_at=timezone.now()
    )
    if not updated:
        RegistryState.objects.get_or_create(pk=MARKER_ID, defaults={"generation": 1})


def registry_generations() -> tuple[int, int]:
    """Return the shared (extension, access) generations, (0, 0) before any change."""
    # A bare cursor: building the ORM query costs 25x the read itself (bench/change_check.py).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT generation, access_generation FROM {RegistryState._meta.db_table} WHERE id = %s", [MARKER_ID]
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, 0)


def registry_generation() -> int:
    """Return the current shared extension generation (0 before any change)."""
    return registry_generations()[0]


def _check_interval() -> float:
    configured = getattr(settings, "EXTENSIONS", {})
    return float(configured.get("CHANGE_CHECK_INTERVAL_SECONDS", 0.2))


def registry_sync(*, force: bool = False) -> bool:
    """Bring this process's registry in line with the database if the marker moved.

    Cheap when nothing changed: a clock read, and one query at most every
    CHANGE_CHECK_INTERVAL_SECONDS. Return whether the rows were re-read. A
    thread that finds another one already syncing goes on without waiting.
    """
    now = time.monotonic()
    if not force and now - registry.last_checked < _check_interval():
        return False
    registry.last_checked = now
    # Read before taking the lock: access changes apply even while another thread
    # is busy loading extensions.
    generation, registry.access_generation = registry_generations()
    if generation == registry.applied_generation and not force:
        return False
    if not registry.lock.acquire(blocking=force):
        return False
    try:
        rows = list(
            Extension.objects.filter(status=Extension.Status.ACTIVE).values(
                "id", "name", "revision", "config_version", "path", "manifest", "config", "code_digest"
            )
        )
        _apply(rows)
        registry.applied_generation = generation
        return True
    finally:
        registry.lock.release()


def _apply(rows: list[dict]) -> None:
    wanted = {row["name"]: row for row in rows}
    graph = {name: dependency_names(row["manifest"]) for name, row in wanted.items()}
    current = registry.snapshot()
    gone = [name for name in current if name not in wanted]
    for name in reversed(dependency_order({name: graph.get(name, []) for name in gone})):
        registry_unload_here(name)
    for name in dependency_order(graph):
        row = wanted[name]
        failed = registry.failures.get(name)
        # A failure is retried when the code (revision) or the configuration changes.
        if failed and failed[0] == (row["revision"], row["config_version"]):
            continue
        loaded = registry.entries.get(name)
        if loaded is not None and loaded.revision == row["revision"]:
            _reconfigure(loaded, row)
            continue
        try:
            # Validated by the process that loaded it; trusted as stored.
            new = _load_row(row, beside=loaded)
        except ExtensionError as error:
            registry.failures[name] = ((row["revision"], row["config_version"]), error.message)
            kept = f"; revision {loaded.revision} keeps serving here" if loaded else ""
            logger.error("Could not load in this process: %s%s", error.message, kept)
            continue
        if loaded is None:
            registry.register(new)
        else:
            registry_swap_here(new)


def _load_row(row: dict, *, beside: LoadedExtension | None) -> LoadedExtension:
    """Load the extension of *row* (next to the running version *beside*, if any); raise ExtensionError."""
    manifest = Manifest.from_document(row["manifest"])
    arguments = dict(
        manifest=manifest,
        # The code this revision was loaded with, not whatever the folder holds now.
        folder=snapshot_for(row["name"], row["revision"], row["code_digest"], Path(row["path"])),
        revision=row["revision"],
        config=effective_config(manifest, row["config"]),
        timeout=extension_settings().load_timeout_seconds,
    )
    loaded = load_extension_beside(beside, **arguments) if beside else load_extension(**arguments)
    return replace(loaded, extension_id=row["id"], config_version=row["config_version"])


def registry_swap_here(new: LoadedExtension) -> str | None:
    """Put *new* in place of the running version of its extension in this process, then shut the old one down.

    Requests and runs see either version, never none. Return shutdown's warning, if any.
    """
    old = registry.entries.get(new.name)
    registry.replace(new)
    if old is None:
        return None
    return shutdown_extension(old, timeout=extension_settings().load_timeout_seconds)


def _reconfigure(loaded: LoadedExtension, row: dict) -> None:
    """Hand a changed configuration to a loaded extension (no reload)."""
    if loaded.config_version == row["config_version"]:
        return
    try:
        loaded.instance.configure(effective_config(loaded.manifest, row["config"]))
    except Exception:
        # The extension keeps its previous configuration; the row stays the truth and
        # the next change retries. Logged with the traceback for the operator.
        logger.exception('Extension "%s": configure() failed in this process', loaded.name)
        return
    registry.replace(replace(loaded, config_version=row["config_version"]))


def registry_unload_here(name: str) -> str | None:
    """Unload *name* from this process only; return shutdown's warning, if any."""
    loaded = registry.unregister(name)
    if loaded is None:
        return None
    return unload_extension(loaded, timeout=extension_settings().load_timeout_seconds)


def registry_clear_here() -> None:
    """Unload every extension of this process (shutdown hooks run) and forget the sync state."""
    with registry.lock:
        for name in reversed(registry.names()):
            registry_unload_here(name)
        registry.reset()
