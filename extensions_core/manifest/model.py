"""Value objects of a validated manifest; built only from a document that passed validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet

from extensions_core.exceptions import ManifestProblem

DEPENDENCY_PATTERN = re.compile(r"^\s*([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Dependency:
    """Another extension that must be active first, within a version range."""

    name: str
    specifier: str = ""

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"

    def accepts(self, version: str) -> bool:
        """Return whether *version* (SemVer) falls within the range."""
        if not self.specifier:
            return True
        return SpecifierSet(self.specifier).contains(version, prereleases=True)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One declared route under /api/extensions/{name}/."""

    path: str
    methods: tuple[str, ...]
    permissions: tuple[str, ...] = ()
    is_public: bool = False
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Trigger:
    """An event that starts a task, with an optional payload filter."""

    event: str
    filter: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One background task as declared in the manifest."""

    name: str
    function: str
    description: str = ""
    is_enabled: bool = True
    schedule: str | None = None
    interval_seconds: int | None = None
    timezone: str | None = None
    timeout_seconds: float | None = None
    max_retries: int = 0
    retry_backoff_seconds: float = 0.0
    is_isolated: bool = True
    misfire_policy: str = "run_once"
    depends_on: tuple[str, ...] = ()
    parameters: dict[str, Any] | None = None
    triggers: tuple[Trigger, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """A page the extension serves inside the admin at /admin/extensions/{name}{path}."""

    name: str
    path: str
    icon: str = ""
    permissions: tuple[str, ...] = ()
    order: int | None = None
    template: str = ""
    description: str = ""

    @property
    def template_path(self) -> str:
        """The template file in the extension package (declared, or templates/pages{path}.html)."""
        return self.template or f"templates/pages{self.path}.html"


@dataclass(frozen=True, slots=True)
class Widget:
    """A box the extension shows on the dashboard."""

    name: str
    title: str = ""
    permissions: tuple[str, ...] = ()
    order: int | None = None
    template: str = ""
    refresh_seconds: int = 30

    @property
    def template_path(self) -> str:
        """The template file in the extension package (declared, or templates/widgets/{name}.html)."""
        return self.template or f"templates/widgets/{self.name}.html"


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated extension.json."""

    name: str
    version: str
    display_name: str
    description: str
    author: str
    license: str
    category: str
    tags: tuple[str, ...]
    entrypoint: str | None
    karen_version: str | None
    dependencies: tuple[Dependency, ...]
    endpoints: tuple[Endpoint, ...]
    tasks: tuple[TaskSpec, ...]
    settings_schema: dict[str, Any] | None
    resources: dict[str, Any]
    capabilities: dict[str, Any]
    document: dict[str, Any]
    warnings: tuple[ManifestProblem, ...] = ()
    pages: tuple[Page, ...] = ()
    widgets: tuple[Widget, ...] = ()

    @classmethod
    def from_document(cls, document: dict[str, Any], warnings: tuple[ManifestProblem, ...] = ()) -> Manifest:
        """Build a Manifest from a document that already passed validation."""
        api = document.get("api") or {}
        ui = document.get("ui") or {}
        return cls(
            name=document["name"],
            version=document["version"],
            display_name=document["display_name"],
            description=document["description"],
            author=document["author"],
            license=document["license"],
            category=document["category"],
            tags=tuple(document.get("tags", ())),
            entrypoint=document.get("entrypoint"),
            karen_version=document.get("karen_version"),
            dependencies=tuple(
                parse_dependency(item) for item in (document.get("dependencies") or {}).get("extensions", ())
            ),
            endpoints=tuple(_endpoint(item) for item in api.get("endpoints", ())),
            tasks=tuple(_task(item) for item in document.get("background_tasks", ())),
            settings_schema=document.get("settings"),
            resources=dict(document.get("resources") or {}),
            capabilities=dict(document.get("capabilities") or {}),
            document=document,
            warnings=warnings,
            pages=tuple(_page(item) for item in page_entries(document)),
            widgets=tuple(_widget(item) for item in ui.get("dashboard_widgets", ())),
        )


def parse_dependency(text: str) -> Dependency:
    """Split "other-ext>=1.2,<2" into a Dependency; raise ValueError when it is not that shape."""
    match = DEPENDENCY_PATTERN.match(text)
    if not match:
        raise ValueError(text)
    name, specifier = match.groups()
    if specifier:
        specifier = str(SpecifierSet(specifier))
    return Dependency(name=name, specifier=specifier)


def dependency_names(document: dict[str, Any]) -> list[str]:
    """Return the names in a manifest document's dependencies.extensions, malformed entries skipped."""
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    items = dependencies.get("extensions") if isinstance(dependencies, dict) else None
    names = []
    for item in items if isinstance(items, list) else ():
        try:
            names.append(parse_dependency(item).name)
        except (ValueError, TypeError):
            continue
    return names


def page_entries(document: dict[str, Any]) -> list[Any]:
    """Return ui.control_room_pages then ui.admin_pages of a manifest document (both declare pages)."""
    ui = document.get("ui") if isinstance(document, dict) else None
    if not isinstance(ui, dict):
        return []
    entries = []
    for key in ("control_room_pages", "admin_pages"):
        items = ui.get(key)
        entries += items if isinstance(items, list) else []
    return entries


def _page(item: dict[str, Any]) -> Page:
    return Page(
        name=item["name"],
        path=item["path"],
        icon=item.get("icon", ""),
        permissions=tuple(item.get("permissions", ())),
        order=item.get("order"),
        template=item.get("template", ""),
        description=item.get("description", ""),
    )


def _widget(item: dict[str, Any]) -> Widget:
    return Widget(
        name=item["name"],
        title=item.get("title") or item["name"],
        permissions=tuple(item.get("permissions", ())),
        order=item.get("order"),
        template=item.get("template", ""),
        refresh_seconds=item.get("refresh_seconds", 30),
    )


def _endpoint(item: dict[str, Any]) -> Endpoint:
    return Endpoint(
        path=item["path"],
        methods=tuple(item["methods"]),
        permissions=tuple(item.get("permissions", ())),
        is_public=bool(item.get("public", False)),
        description=item.get("description") or item.get("summary") or "",
        tags=tuple(item.get("tags", ())),
    )


def _task(item: dict[str, Any]) -> TaskSpec:
    return TaskSpec(
        name=item["name"],
        function=item["function"],
        description=item.get("description", ""),
        is_enabled=item.get("enabled", True),
        schedule=" ".join(item["schedule"].split()) if item.get("schedule") else None,
        interval_seconds=item.get("interval_seconds"),
        timezone=item.get("timezone"),
        timeout_seconds=item.get("timeout_seconds"),
        max_retries=item.get("max_retries", 0),
        retry_backoff_seconds=item.get("retry_backoff_seconds", 0.0),
        is_isolated=item.get("isolated", True),
        misfire_policy=item.get("misfire_policy", "run_once"),
        depends_on=tuple(item.get("depends_on", ())),
        parameters=item.get("parameters"),
        triggers=tuple(
            Trigger(event=trigger["event"], filter=trigger.get("filter") or {}) for trigger in item.get("triggers", ())
        ),
    )
