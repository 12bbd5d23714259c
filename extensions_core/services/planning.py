"""Planning a load: whose rights apply, and which extensions to load in which order, checked before any load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from packaging.specifiers import SpecifierSet

import karen
from extensions_core.exceptions import ExtensionDependencyError, ExtensionError
from extensions_core.manifest import Manifest
from extensions_core.models import Extension
from extensions_core.services.records import extension_read_manifest

Status = Extension.Status
# Refusals that depend on who asks, not on the extension: never recorded on its row.
ACTOR_CODES = frozenset({"extension_dependency_unavailable", "extension_dependency_not_permitted"})


class AccessPolicy(Protocol):
    """Whose rights apply to the extensions an action touches beyond the one named (dependencies, dependents)."""

    def may_view(self, extension: Extension) -> bool: ...

    def may_manage(self, extension: Extension) -> bool: ...


class _Platform:
    """The platform acting for itself (startup, discovery, operators at the command line)."""

    def may_view(self, extension: Extension) -> bool:
        return True

    def may_manage(self, extension: Extension) -> bool:
        return True


PLATFORM = _Platform()


@dataclass(frozen=True, slots=True)
class LoadStep:
    """One extension of a load plan, with the manifest to load it with."""

    extension: Extension
    manifest: Manifest


def check_platform(manifest: Manifest) -> None:
    if manifest.karen_version:
        if not SpecifierSet(manifest.karen_version).contains(karen.__version__, prereleases=True):
            raise ExtensionDependencyError(
                f'requires platform version "{manifest.karen_version}", but this platform is {karen.__version__}',
                extension=manifest.name,
                code="extension_incompatible_platform",
            )


def load_plan(target: Extension, manifest: Manifest, actor: AccessPolicy = PLATFORM) -> list[LoadStep]:
    """Return the extensions to load, dependencies first, ending with *target*.

    Raise ExtensionDependencyError for a missing, disabled or incompatible
    dependency or a cycle; nothing is loaded or written by this function
    except manifest problems found on dependencies.
    """
    rows: dict[str, Extension | None] = {}

    def row_of(name: str) -> Extension | None:
        if name not in rows:
            rows[name] = Extension.objects.filter(name=name).first()
        return rows[name]

    plan: list[LoadStep] = []
    planned: set[str] = set()

    def visit(extension: Extension, manifest: Manifest, chain: list[str]) -> None:
        check_platform(manifest)
        for dependency in manifest.dependencies:
            if dependency.name in chain:
                cycle = " -> ".join([*chain[chain.index(dependency.name) :], dependency.name])
                raise ExtensionDependencyError(
                    f"dependencies form a cycle: {cycle}",
                    extension=target.name,
                    code="extension_dependency_cycle",
                )
            row = row_of(dependency.name)
            if actor is not PLATFORM and (row is None or not actor.may_view(row)):
                # Missing and invisible look the same to the caller.
                raise ExtensionDependencyError(
                    f'needs "{dependency}", which is not available to you',
                    extension=target.name,
                    code="extension_dependency_unavailable",
                )
            if row is None:
                raise ExtensionDependencyError(
                    f'needs "{dependency}", which is not installed',
                    extension=target.name,
                    code="extension_dependency_missing",
                )
            if not row.is_enabled:
                raise ExtensionDependencyError(
                    f'needs "{dependency.name}", which is disabled; enable it first',
                    extension=target.name,
                    code="extension_dependency_disabled",
                )
            try:
                active = row.status == Status.ACTIVE
                found = Manifest.from_document(row.manifest) if active else extension_read_manifest(row)
            except ExtensionError as error:
                raise ExtensionDependencyError(
                    f'needs "{dependency.name}", whose manifest is broken: {error.message}',
                    extension=target.name,
                    code="extension_dependency_failed",
                ) from error
            if not dependency.accepts(found.version):
                raise ExtensionDependencyError(
                    f'needs "{dependency}", but {dependency.name} {found.version} is installed',
                    extension=target.name,
                    code="extension_dependency_version",
                )
            if row.status != Status.ACTIVE and not actor.may_manage(row):
                raise ExtensionDependencyError(
                    f'needs "{dependency.name}" loaded first, which you may not manage',
                    extension=target.name,
                    code="extension_dependency_not_permitted",
                )
            if dependency.name not in planned:
                visit(row, found, [*chain, dependency.name])
        if extension.name not in planned:
            planned.add(extension.name)
            plan.append(LoadStep(extension, manifest))

    visit(target, manifest, [target.name])
    return plan
