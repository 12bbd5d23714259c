"""The single `EXTENSIONS` setting: defaults, types, and a lazy accessor read at call time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

# Liveness. A worker or beat process beats every HEARTBEAT_SECONDS and is alive when seen within ALIVE_WINDOW;
# one not seen for FORGET_AFTER is forgotten.
HEARTBEAT_SECONDS = 5
ALIVE_WINDOW = timedelta(seconds=3 * HEARTBEAT_SECONDS)
FORGET_AFTER = timedelta(days=1)
# A running execution beats this often; one silent for EXECUTION_STALE_AFTER lost its worker (the reaper ends it).
EXECUTION_HEARTBEAT_SECONDS = 2
EXECUTION_STALE_AFTER = timedelta(seconds=20)

DEFAULTS: dict[str, Any] = {
    "DIRS": [],
    "LOAD_TIMEOUT_SECONDS": 10.0,
    "CHANGE_CHECK_INTERVAL_SECONDS": 0.2,
    "AUTO_ENABLE_DISCOVERED": True,
    "ENTRY_POINTS": True,
    "ENTRY_POINT_GROUP": "karen.extensions",
    "MANIFEST_MAX_BYTES": 256 * 1024,
    "MANIFEST_MAX_DEPTH": 32,
    "NAMESPACE": "karen_extensions",
    # Where each loaded revision's code is kept (None: var/extension-code), and the largest package copied.
    "SNAPSHOT_DIR": None,
    "SNAPSHOT_MAX_BYTES": 100 * 2**20,
}

TYPES: dict[str, tuple[type, ...]] = {
    "DIRS": (list, tuple),
    "LOAD_TIMEOUT_SECONDS": (int, float),
    "CHANGE_CHECK_INTERVAL_SECONDS": (int, float),
    "AUTO_ENABLE_DISCOVERED": (bool,),
    "ENTRY_POINTS": (bool,),
    "ENTRY_POINT_GROUP": (str,),
    "MANIFEST_MAX_BYTES": (int,),
    "MANIFEST_MAX_DEPTH": (int,),
    "NAMESPACE": (str,),
    "SNAPSHOT_DIR": (str, Path, type(None)),
    "SNAPSHOT_MAX_BYTES": (int,),
}


@dataclass(frozen=True, slots=True)
class ExtensionSettings:
    """The effective EXTENSIONS setting."""

    dirs: tuple[Path, ...]
    load_timeout_seconds: float
    change_check_interval_seconds: float
    auto_enable_discovered: bool
    entry_points: bool
    entry_point_group: str
    manifest_max_bytes: int
    manifest_max_depth: int
    namespace: str
    snapshot_dir: Path
    snapshot_max_bytes: int


def setting_problems() -> list[str]:
    """Return one sentence per unknown key or wrongly typed value in settings.EXTENSIONS."""
    configured = getattr(settings, "EXTENSIONS", {})
    problems = [
        f'EXTENSIONS["{key}"] is not a known setting (known: {", ".join(sorted(DEFAULTS))}).'
        for key in configured
        if key not in DEFAULTS
    ]
    for key, value in configured.items():
        expected = TYPES.get(key)
        if expected and not isinstance(value, expected):
            names = " or ".join(kind.__name__ for kind in expected)
            problems.append(f'EXTENSIONS["{key}"] must be {names} (got {value!r}).')
    return problems


def extension_settings() -> ExtensionSettings:
    """Return the EXTENSIONS setting merged over its defaults."""
    merged = {**DEFAULTS, **getattr(settings, "EXTENSIONS", {})}
    return ExtensionSettings(
        dirs=tuple(Path(item) for item in merged["DIRS"]),
        load_timeout_seconds=float(merged["LOAD_TIMEOUT_SECONDS"]),
        change_check_interval_seconds=float(merged["CHANGE_CHECK_INTERVAL_SECONDS"]),
        auto_enable_discovered=bool(merged["AUTO_ENABLE_DISCOVERED"]),
        entry_points=bool(merged["ENTRY_POINTS"]),
        entry_point_group=str(merged["ENTRY_POINT_GROUP"]),
        manifest_max_bytes=int(merged["MANIFEST_MAX_BYTES"]),
        manifest_max_depth=int(merged["MANIFEST_MAX_DEPTH"]),
        namespace=str(merged["NAMESPACE"]),
        snapshot_dir=Path(merged["SNAPSHOT_DIR"] or Path(settings.VAR_DIR) / "extension-code"),
        snapshot_max_bytes=int(merged["SNAPSHOT_MAX_BYTES"]),
    )
