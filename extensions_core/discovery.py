"""Finds extension packages in the configured folders and installed distributions' entry points.

Each is paired with its parsed manifest or with the error that stops it. A
broken package is reported next to the good ones and never stops discovery;
of two packages with the same name the one already known (else the first
found) wins and the other is rejected.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from extensions_core.exceptions import ExtensionConflictError, ExtensionError, ManifestError
from extensions_core.manifest import MANIFEST_FILENAME, Manifest, parse_manifest, read_document

Source = Literal["directory", "entry_point"]
VALID_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class DiscoveredExtension:
    """One extension package found on disk, valid (manifest) or not (error)."""

    folder: Path
    source: Source
    manifest: Manifest | None = None
    error: ExtensionError | None = None
    name: str | None = None
    entry_point: str = ""

    @property
    def is_valid(self) -> bool:
        return self.error is None and self.manifest is not None

    @property
    def label(self) -> str:
        return self.name or self.entry_point or self.folder.name


@dataclass(frozen=True, slots=True)
class Candidate:
    folder: Path
    source: Source
    entry_point: str = ""
    error: ExtensionError | None = None


def directory_candidates(dirs: Iterable[Path]) -> list[Candidate]:
    """Return every subfolder holding an extension.json, per configured folder, sorted by name."""
    found = []
    for base in dirs:
        try:
            entries = sorted(os.scandir(base), key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith((".", "_")) or not entry.is_dir():
                continue
            if os.path.lexists(os.path.join(entry.path, MANIFEST_FILENAME)):
                found.append(Candidate(folder=Path(entry.path), source="directory"))
    return found


def entry_point_candidates(group: str) -> list[Candidate]:
    """Return the package folder of every `group` entry point, without importing it."""
    found = []
    for entry_point in sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name):
        label = f"{entry_point.name} = {entry_point.value}"
        module = entry_point.value.partition(":")[0].strip()
        top, _, rest = module.partition(".")
        spec = importlib.util.find_spec(top) if top.isidentifier() else None
        locations = list(spec.submodule_search_locations or ()) if spec else []
        if not locations:
            error = ExtensionError(
                f'entry point "{label}" must name an importable package holding {MANIFEST_FILENAME}',
                code="extension_entry_point_invalid",
            )
            found.append(Candidate(folder=Path(module), source="entry_point", entry_point=label, error=error))
            continue
        folder = Path(locations[0]).joinpath(*(rest.split(".") if rest else ()))
        found.append(Candidate(folder=folder, source="entry_point", entry_point=label))
    return found


def discover_extensions(
    *,
    dirs: Iterable[Path],
    entry_point_group: str | None = None,
    known_folders: Mapping[str, str] | None = None,
    max_bytes: int,
    max_depth: int,
) -> list[DiscoveredExtension]:
    """Return every extension package found, each with its manifest or its error.

    *known_folders* maps names to the folder already registered for them, so
    that folder keeps the name when another package claims it.
    """
    candidates = directory_candidates(dirs)
    if entry_point_group:
        candidates += entry_point_candidates(entry_point_group)
    results = [_examine(candidate, max_bytes=max_bytes, max_depth=max_depth) for candidate in candidates]
    return _reject_duplicates(results, known_folders or {})


def _examine(candidate: Candidate, *, max_bytes: int, max_depth: int) -> DiscoveredExtension:
    common = {"folder": candidate.folder, "source": candidate.source, "entry_point": candidate.entry_point}
    if candidate.error:
        return DiscoveredExtension(**common, error=candidate.error)
    document = None
    try:
        document = read_document(candidate.folder, max_bytes=max_bytes, max_depth=max_depth)
        manifest = parse_manifest(document)
    except ManifestError as error:
        name = document.get("name") if isinstance(document, dict) else None
        # An invalid manifest's name is kept only if it is a valid name: it becomes a row key.
        name = name if isinstance(name, str) and VALID_NAME.fullmatch(name) and 3 <= len(name) <= 50 else None
        if error.extension is None:
            error = ManifestError(error.problems, extension=name or candidate.folder.name)
        return DiscoveredExtension(**common, error=error, name=name)
    return DiscoveredExtension(**common, manifest=manifest, name=manifest.name)


def _reject_duplicates(
    results: list[DiscoveredExtension], known_folders: Mapping[str, str]
) -> list[DiscoveredExtension]:
    winners: dict[str, DiscoveredExtension] = {}
    for result in results:
        if result.name is None:
            continue
        current = winners.get(result.name)
        if current is None or (
            str(result.folder) == known_folders.get(result.name)
            and str(current.folder) != known_folders.get(result.name)
        ):
            winners[result.name] = result
    output = []
    for result in results:
        winner = winners.get(result.name) if result.name else None
        if winner is None or winner is result:
            output.append(result)
            continue
        error = ExtensionConflictError(
            f"{result.folder} is ignored: the name is already taken by {winner.folder}; "
            'rename one of them (the "name" in extension.json)',
            extension=result.name,
        )
        output.append(
            DiscoveredExtension(
                folder=result.folder,
                source=result.source,
                manifest=result.manifest,
                error=error,
                name=result.name,
                entry_point=result.entry_point,
            )
        )
    return output
