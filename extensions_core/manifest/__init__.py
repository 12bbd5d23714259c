"""`Manifest` value objects and `parse_manifest()`; pure Python, no ORM, no extension code.

`read_manifest()` reads a folder's extension.json safely and validates it:
the published JSON Schema, then the semantic checks. Every problem is
collected before one ManifestError is raised.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from extensions_core.exceptions import ManifestError, ManifestProblem
from extensions_core.manifest.checks import (
    RESERVED_ENDPOINT_PATHS,
    RESERVED_NAMES,
    cron_problems,
    embedded_schema_problems,
)
from extensions_core.manifest.document import (
    MANIFEST_FILENAME,
    manifest_path_of,
    parse_json_text,
    read_document,
)
from extensions_core.manifest.model import Dependency, Endpoint, Manifest, Page, TaskSpec, Trigger, Widget
from extensions_core.manifest.schema import SCHEMA_PATH, manifest_schema, schema_problems

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 32

__all__ = [
    "MANIFEST_FILENAME",
    "RESERVED_ENDPOINT_PATHS",
    "RESERVED_NAMES",
    "SCHEMA_PATH",
    "Dependency",
    "Endpoint",
    "Manifest",
    "ManifestError",
    "ManifestProblem",
    "Page",
    "TaskSpec",
    "Trigger",
    "Widget",
    "cron_problems",
    "embedded_schema_problems",
    "manifest_path_of",
    "manifest_problems",
    "manifest_schema",
    "parse_json_text",
    "parse_manifest",
    "read_manifest",
]


def manifest_problems(document: Any) -> list[ManifestProblem]:
    """Return every error and warning of a manifest *document*, schema findings first."""
    problems = schema_problems(document)
    if isinstance(document, dict):
        problems += _semantic(document)
    return problems


def _semantic(document: dict[str, Any]) -> list[ManifestProblem]:
    from extensions_core.manifest.checks import semantic_problems

    return semantic_problems(document)


def parse_manifest(document: Any, *, strict: bool = False, source: str = MANIFEST_FILENAME) -> Manifest:
    """Validate *document* and return its Manifest, warnings attached.

    Raise ManifestError listing every problem when it does not validate; with
    *strict*, warnings (unknown keys and permission values) count as errors.
    """
    problems = manifest_problems(document)
    errors = [replace(p, is_warning=False) if strict else p for p in problems if strict or not p.is_warning]
    name = document.get("name") if isinstance(document, dict) else None
    extension = name if isinstance(name, str) and name else None
    if errors:
        raise ManifestError(errors, extension=extension, source=source)
    warnings = tuple(p for p in problems if p.is_warning)
    return Manifest.from_document(document, warnings=warnings)


def read_manifest(
    path: Path,
    *,
    strict: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Manifest:
    """Read and validate the manifest of the extension folder (or extension.json) at *path*.

    Raise ManifestError when the file is refused or does not validate.
    """
    document = read_document(Path(path), max_bytes=max_bytes, max_depth=max_depth)
    return parse_manifest(document, strict=strict)
