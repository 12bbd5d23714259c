"""In-process record of loaded extensions: register/unregister/get, and the sync bookkeeping.

Every web and worker process has one registry. It only mirrors the database
(the source of truth); `services.propagation` keeps the two in step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from extensions_core.exceptions import ExtensionStateError, RegistryNotReadyError
from extensions_core.manifest import Manifest
from extensions_core.sdk import BaseExtension


@dataclass(frozen=True, slots=True)
class LoadedExtension:
    """An extension whose code is imported and initialized in this process."""

    name: str
    revision: int
    manifest: Manifest
    instance: BaseExtension
    module_name: str
    folder: Path
    loaded_at: datetime
    extension_id: int = 0
    config_version: int = 0


@dataclass
class Registry:
    """Loaded extensions of this process, keyed by name; thread-safe."""

    entries: dict[str, LoadedExtension] = field(default_factory=dict)
    # name -> ((revision, config_version), message) of loads that failed here, so they are
    # not retried on every check; a reload or a configuration change retries.
    failures: dict[str, tuple[tuple[int, int], str]] = field(default_factory=dict)
    applied_generation: int | None = None
    # The shared access generation as last read with the change marker (see permissions.py).
    access_generation: int | None = None
    last_checked: float = float("-inf")
    # Grows with every change of the entries; consumers (the route table) rebuild when it moves.
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def is_ready(self) -> bool:
        return self.applied_generation is not None

    def register(self, loaded: LoadedExtension) -> None:
        """Record *loaded*; raise ExtensionStateError if that name is already registered."""
        with self.lock:
            if loaded.name in self.entries:
                raise ExtensionStateError(
                    "is already registered in this process",
                    extension=loaded.name,
                    code="extension_already_registered",
                )
            self.entries[loaded.name] = loaded
            self.failures.pop(loaded.name, None)
            self.version += 1

    def replace(self, loaded: LoadedExtension) -> None:
        """Swap in a new record of a registered extension (a new configuration, or a new version after a reload)."""
        with self.lock:
            self.entries[loaded.name] = loaded
            self.failures.pop(loaded.name, None)
            self.version += 1

    def unregister(self, name: str) -> LoadedExtension | None:
        """Forget *name*; return what was registered, or None."""
        with self.lock:
            self.version += 1
            return self.entries.pop(name, None)

    def get(self, name: str) -> LoadedExtension | None:
        """Return the loaded extension *name*, or None when it is not loaded here.

        Raise RegistryNotReadyError before the first synchronisation.
        """
        if not self.is_ready:
            raise RegistryNotReadyError(
                "the extension registry of this process has not synchronised with the database yet"
            )
        return self.entries.get(name)

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self.entries)

    def snapshot(self) -> dict[str, int]:
        """Return {name: revision} of what is loaded here."""
        with self.lock:
            return {name: loaded.revision for name, loaded in self.entries.items()}

    def reset(self) -> None:
        """Forget everything (tests); does not call shutdown hooks."""
        with self.lock:
            self.entries.clear()
            self.failures.clear()
            self.version += 1
            self.applied_generation = None
            self.access_generation = None
            self.last_checked = float("-inf")


registry = Registry()
