"""What loaded extensions contribute to the admin: pages, navigation items and dashboard widgets, and their render.

Everything here reads this process's registry (kept in step with the database
by the registry sync of every request), so a page or widget appears and
disappears with its extension in every web process without a restart.
Rendering an extension's page or widget is bounded in time and isolated: its
failure becomes an error shown in its place, never a failed request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template import TemplateSyntaxError, engines

from extensions_core.loader import run_with_timeout
from extensions_core.manifest import Manifest, Page, Widget
from extensions_core.manifest.model import page_entries
from extensions_core.models import Extension
from extensions_core.permissions import can_open_contribution
from extensions_core.registry import LoadedExtension, registry

logger = logging.getLogger(__name__)

PAGE_RENDER_TIMEOUT_SECONDS = 10.0
WIDGET_RENDER_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class NavigationItem:
    """A page a viewer may open, as shown in the sidebar and on the dashboard."""

    extension: str
    name: str
    path: str
    icon: str
    order: int | None

    @property
    def url(self) -> str:
        return f"/admin/extensions/{self.extension}{self.path}"

    @property
    def sort_key(self) -> tuple:
        return (self.order is None, self.order or 0, self.name.casefold(), self.path)


@dataclass(frozen=True, slots=True)
class NavigationGroup:
    """The navigation items of one extension."""

    extension: str
    display_name: str
    items: tuple[NavigationItem, ...]


@dataclass(frozen=True, slots=True)
class WidgetSlot:
    """A widget a viewer may see: which extension, which declaration."""

    extension: str
    display_name: str
    widget: Widget

    @property
    def key(self) -> str:
        return f"{self.extension}:{self.widget.name}"

    @property
    def url(self) -> str:
        return f"/admin/extensions/{self.extension}/widgets/{self.widget.name}/"


class ContributionNotFoundError(LookupError):
    """No such page or widget is served to this viewer: missing, of an inactive extension, or invisible."""


class ContributionForbiddenError(PermissionError):
    """The viewer sees the extension but holds none of the roles the page or widget asks for."""


class ContributionRenderError(Exception):
    """An extension's page or widget failed to render (raised, timed out, returned a non-dict, bad template)."""


def _opens(user, loaded: LoadedExtension, roles: Iterable[str]) -> bool:
    return can_open_contribution(user, Extension(pk=loaded.extension_id, name=loaded.name), tuple(roles))


def _loaded_extensions() -> list[LoadedExtension]:
    return sorted(list(registry.entries.values()), key=lambda loaded: loaded.manifest.display_name.casefold())


def navigation_for(user) -> list[NavigationGroup]:
    """Return the pages *user* may open, grouped by extension, ordered by `order` then name."""
    groups = []
    for loaded in _loaded_extensions():
        items = sorted(
            (
                NavigationItem(loaded.name, page.name, page.path, page.icon, page.order)
                for page in loaded.manifest.pages
                if _opens(user, loaded, page.permissions)
            ),
            key=lambda item: item.sort_key,
        )
        if items:
            groups.append(NavigationGroup(loaded.name, loaded.manifest.display_name, tuple(items)))
    return groups


def widgets_for(user) -> list[WidgetSlot]:
    """Return the widgets *user* may see, in their default order (extension, then `order`, then name)."""
    slots = []
    for loaded in _loaded_extensions():
        widgets = sorted(loaded.manifest.widgets, key=lambda w: (w.order is None, w.order or 0, w.name))
        slots += [
            WidgetSlot(loaded.name, loaded.manifest.display_name, widget)
            for widget in widgets
            if _opens(user, loaded, widget.permissions)
        ]
    return slots


def _contribution(user, name: str, find: Callable[[Manifest], Any]) -> tuple[LoadedExtension, Any]:
    loaded = registry.entries.get(name)
    item = find(loaded.manifest) if loaded is not None else None
    if item is None or not _opens(user, loaded, ()):
        raise ContributionNotFoundError(name)
    if not _opens(user, loaded, item.permissions):
        raise ContributionForbiddenError(f"this needs one of the roles {', '.join(item.permissions)}")
    return loaded, item


def page_get_for_user(user, name: str, path: str) -> tuple[LoadedExtension, Page]:
    """Return the loaded extension *name* and its page at *path*, if *user* may open it.

    Raise ContributionNotFoundError when the extension is not active here, has no
    such page or is invisible to the user; ContributionForbiddenError when the
    user sees the extension but holds none of the page's roles.
    """
    return _contribution(user, name, lambda manifest: next((p for p in manifest.pages if p.path == path), None))


def widget_get_for_user(user, name: str, widget: str) -> tuple[LoadedExtension, Widget]:
    """Return the loaded extension *name* and its widget *widget*; raise as page_get_for_user does."""
    return _contribution(user, name, lambda manifest: next((w for w in manifest.widgets if w.name == widget), None))


class _InFlight:
    """Renders still running per contribution: one that overran its bound blocks new renders until it returns.

    A thread cannot be killed, so a hanging page or widget would otherwise
    leave one more stuck thread behind on every refresh.
    """

    def __init__(self) -> None:
        self.started: dict[tuple[str, int, str], dict[int, float]] = {}
        self.lock = threading.Lock()
        self.tokens = 0

    def begin(self, key: tuple[str, int, str], timeout: float) -> tuple[int | None, float]:
        """Register a render of *key*: return (token, 0), or (None, age) when one has been running past *timeout*."""
        now = time.monotonic()
        with self.lock:
            running = self.started.setdefault(key, {})
            oldest = min(running.values(), default=now)
            if now - oldest > timeout:
                return None, now - oldest
            self.tokens += 1
            running[self.tokens] = now
            return self.tokens, 0.0

    def end(self, key: tuple[str, int, str], token: int) -> None:
        with self.lock:
            running = self.started.get(key, {})
            running.pop(token, None)
            if not running:
                self.started.pop(key, None)


_in_flight = _InFlight()
_templates: dict[tuple[str, int, str], Any] = {}


def _template(loaded: LoadedExtension, relative: str):
    """Return the compiled template *relative* to the package (cached per extension revision)."""
    key = (loaded.name, loaded.revision, relative)
    cached = _templates.get(key)
    if cached is None:
        path = (loaded.folder / relative).resolve()
        if not path.is_relative_to(loaded.folder) or not path.is_file():
            raise ContributionRenderError(f"its template {relative} is missing from the extension package")
        try:
            cached = engines["django"].from_string(path.read_text(encoding="utf-8"))
        except (TemplateSyntaxError, UnicodeDecodeError) as error:
            raise ContributionRenderError(f"its template {relative} cannot be read: {error}") from error
        _templates[key] = cached
    return cached


def contribution_render(
    request: HttpRequest,
    loaded: LoadedExtension,
    item: Page | Widget,
    *,
    handler: Callable[[HttpRequest], Any] | None,
    timeout: float,
) -> str:
    """Render *item* (a page or widget of *loaded*): its context function, then its template, within *timeout*.

    Raise ContributionRenderError saying what went wrong: the function raised
    or returned something other than a dict, the template is missing or broken,
    the render took longer than *timeout* s, or an earlier render of the same
    item has not returned yet (it is not started twice).
    """
    key = (loaded.name, loaded.revision, item.template_path)
    token, stuck_for = _in_flight.begin(key, timeout)
    if token is None:
        raise ContributionRenderError(
            f"an earlier render has not returned for {stuck_for:.0f} s; no new one starts until it does"
        )
    base = {
        "extension": {
            "name": loaded.name,
            "display_name": loaded.manifest.display_name,
            "version": loaded.manifest.version,
            "api_url": f"/api/extensions/{loaded.name}/",
        },
        "item": item,
    }

    def render() -> str:
        try:
            extra = handler(request) if handler is not None else {}
            if extra is None:
                extra = {}
            if not isinstance(extra, dict):
                raise ContributionRenderError(f"its context function must return a dict (got {type(extra).__name__})")
            return _template(loaded, item.template_path).render({**extra, **base}, request)
        finally:
            _in_flight.end(key, token)

    what = f"{loaded.name} {type(item).__name__.lower()} {getattr(item, 'path', None) or item.name}"
    try:
        return run_with_timeout(render, timeout=timeout, what=what)
    except ContributionRenderError:
        raise
    except TimeoutError as error:
        raise ContributionRenderError(f"it did not render within {timeout:g} s") from error
    except Exception as error:
        logger.exception("Rendering %s failed", what)
        raise ContributionRenderError(f"it raised {type(error).__name__}: {error}") from error


def page_conflicts(manifest: Manifest, others: dict[str, dict[str, Any]]) -> list[str]:
    """Return why *manifest*'s pages cannot be served beside the active extensions *others* ({name: manifest}).

    Page paths are one namespace across extensions (the first system's control
    room mounted every page at its path), so each path has one owner.
    """
    problems = []
    for page in manifest.pages:
        for name, document in sorted(others.items()):
            if name == manifest.name:
                continue
            if any(isinstance(other, dict) and other.get("path") == page.path for other in page_entries(document)):
                problems.append(
                    f'page path "{page.path}" ({page.name}) is already served by extension "{name}"; '
                    "give the page another path"
                )
    return problems
