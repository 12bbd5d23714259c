"""Extension configuration: defaults from the manifest's `settings` schema, and validation against it."""

from __future__ import annotations

from typing import Any

from extensions_core.exceptions import ExtensionError, ManifestProblem
from extensions_core.manifest import Manifest
from extensions_core.manifest.schema import json_path
from extensions_core.validation import schema_findings


class ConfigurationError(ExtensionError):
    """A configuration does not satisfy the extension's settings schema."""

    code = "extension_config_invalid"


def config_defaults(manifest: Manifest) -> dict[str, Any]:
    """Return the top-level defaults declared in the manifest's settings schema."""
    properties = (manifest.settings_schema or {}).get("properties") or {}
    return {key: spec["default"] for key, spec in properties.items() if isinstance(spec, dict) and "default" in spec}


def effective_config(manifest: Manifest, stored: dict[str, Any]) -> dict[str, Any]:
    """Return *stored* over the schema's defaults, validated.

    Raise ConfigurationError listing every problem when it does not validate.
    """
    config = {**config_defaults(manifest), **(stored or {})}
    if manifest.settings_schema:
        problems = [
            ManifestProblem(json_path(path) or "(config)", "config_invalid_value", message)
            for path, message in schema_findings(manifest.settings_schema, config)
        ]
        if problems:
            listed = "; ".join(str(problem) for problem in problems)
            raise ConfigurationError(
                f"configuration does not match the settings schema: {listed}",
                extension=manifest.name,
                problems=tuple(problems),
            )
    return config
