"""State-changing use cases; the only writers of extension rows.

`lifecycle` loads, unloads, reloads, enables and disables (`planning` checks a
load before it starts, `records` writes a row's observed state); `discovery`
rescans the sources; `configuration` changes an extension's settings;
`propagation` keeps each process's registry in step; `tasks` keeps task
definitions in line with manifests; `heartbeats` records live workers and beat.
"""

from extensions_core.services.configuration import extension_configure
from extensions_core.services.discovery import DiscoveryReport, extension_discover
from extensions_core.services.lifecycle import (
    extension_disable,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
)
from extensions_core.services.planning import PLATFORM, AccessPolicy
from extensions_core.services.propagation import (
    registry_clear_here,
    registry_generation,
    registry_generation_bump,
    registry_sync,
)
from extensions_core.services.records import extension_get, extension_record_error
from extensions_core.services.tasks import task_definition_override, task_definitions_sync

__all__ = [
    "PLATFORM",
    "AccessPolicy",
    "extension_configure",
    "DiscoveryReport",
    "extension_disable",
    "extension_discover",
    "extension_enable",
    "extension_get",
    "extension_load",
    "extension_record_error",
    "extension_reload",
    "extension_unload",
    "registry_clear_here",
    "registry_generation",
    "registry_generation_bump",
    "registry_sync",
    "task_definition_override",
    "task_definitions_sync",
]
