"""Change an extension's configuration and apply it in every process that runs the extension."""

from __future__ import annotations

from dataclasses import replace
from traceback import format_exception

from django.db import transaction
from django.db.models import F

from extensions_core.configuration import effective_config
from extensions_core.exceptions import ExtensionLoadError, ExtensionStateError
from extensions_core.manifest import Manifest
from extensions_core.models import Extension
from extensions_core.registry import registry
from extensions_core.services.propagation import registry_generation_bump
from extensions_core.services.records import extension_get


def extension_configure(*, name: str, config: dict) -> Extension:
    """Replace the stored configuration of *name* and apply it in every process that runs it.

    The configuration is validated against the manifest's settings schema
    (defaults filled in) and, when the extension runs here, handed to its
    configure() before anything is committed. Raise ConfigurationError listing
    every problem, ExtensionStateError when the extension has no valid
    manifest, ExtensionLoadError when configure() raises (nothing is stored),
    ExtensionNotFoundError for an unknown name.
    """
    extension = extension_get(name)
    if not extension.manifest or extension.error_code.startswith("manifest_"):
        raise ExtensionStateError(
            "has no valid manifest to check a configuration against; fix its extension.json and run discover",
            extension=name,
            code="extension_manifest_unavailable",
        )
    manifest = Manifest.from_document(extension.manifest)
    effective = effective_config(manifest, config)
    with transaction.atomic():
        locked = Extension.objects.select_for_update().get(pk=extension.pk)
        loaded = registry.entries.get(name)
        if loaded is not None:
            try:
                loaded.instance.configure(effective)
            except Exception as error:
                raise ExtensionLoadError(
                    f"configure() raised {type(error).__name__}: {error}; the configuration was not stored",
                    extension=name,
                    code="extension_configure_failed",
                    traceback="".join(format_exception(error)),
                ) from error
        Extension.objects.filter(pk=locked.pk).update(config=config, config_version=F("config_version") + 1)
        registry_generation_bump()
        locked.refresh_from_db()
    if loaded is not None:
        registry.replace(replace(loaded, config_version=locked.config_version))
    return locked
