"""The public surface for extension authors: extensions import from here and nowhere else in core.

    from extensions_core.sdk import BaseExtension, route

    class HelloExtension(BaseExtension):
        def initialize(self):
            self.greeting_count = 0

        @route("/hello", methods=["GET"])
        def hello(self, request):
            self.greeting_count += 1
            return {"message": "Hello!"}

Pages and dashboard widgets (declared in the manifest's `ui`) are templates in
the package; a method marked with @page or @widget returns their context:

        @page("/hello")                      # ui.control_room_pages[].path
        def hello_page(self, request):
            return {"count": self.greeting_count}   # templates/pages/hello.html

        @widget("greetings")                 # ui.dashboard_widgets[].name
        def greetings_widget(self, request):
            return {"count": self.greeting_count}   # templates/widgets/greetings.html

An extension gets its validated manifest (`self.manifest`), its configuration
(`self.config`, validated against the manifest's `settings` schema) and a
logger named after it (`self.logger`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from extensions_core.manifest import Endpoint, Manifest, TaskSpec

__all__ = [
    "BaseExtension",
    "Endpoint",
    "Manifest",
    "RequestError",
    "Route",
    "TaskCancelledError",
    "TaskContext",
    "TaskSpec",
    "TaskTimeoutError",
    "emit_event",
    "page",
    "route",
    "widget",
]

_ROUTE_ATTRIBUTE = "_karen_route"
_PAGE_ATTRIBUTE = "_karen_page"
_WIDGET_ATTRIBUTE = "_karen_widget"


@dataclass(frozen=True, slots=True)
class Route:
    """A view an extension provides: its path under /api/extensions/{name}, methods and handler."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]


class RequestError(Exception):
    """Raise from a view to answer the caller with an error body ({"code", "message"}).

    The default is 400 (bad input); pass status_code for others (404, 409, ...).
    """

    def __init__(self, message: str, *, code: str = "invalid_input", status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code


class TaskTimeoutError(Exception):
    """Raised inside a task when it runs past its timeout; it has a few seconds to clean up before it is killed."""


class TaskCancelledError(Exception):
    """Raise from a task to end it as cancelled (the platform also stops a run that is cancelled)."""


def _no_emit(event_type: str, event_data: dict[str, Any] | None = None) -> dict[str, Any]:
    raise RuntimeError("this task context cannot emit events")


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task function receives first: which run this is, its inputs, a logger and controls.

    Task functions are called as ``function(context, **parameters)``.

    - ``logger`` writes to the execution's log (so do ``print`` and any other
      logger, in isolated runs);
    - ``is_cancelled()`` turns true when someone cancels the run: return
      soon after (a task that does not stop is killed a few seconds later);
    - ``event`` is the event that triggered the run (``event_type``,
      ``event_data``, ``event_id``, ``emitted_at``), or None;
    - ``emit(event_type, event_data)`` emits an event on behalf of this run.
    """

    execution_id: str
    task_name: str
    extension_name: str
    parameters: dict[str, Any]
    event: dict[str, Any] | None
    logger: logging.Logger
    is_cancelled: Callable[[], bool] = lambda: False
    attempt: int = 1
    emit: Callable[..., dict[str, Any]] = _no_emit


def emit_event(event_type: str, event_data: dict[str, Any] | None = None, *, emitted_by: str = "") -> dict[str, Any]:
    """Emit an event from extension code (a view, initialize()); every enabled matching trigger starts its task.

    Return {"event_id", "triggered_tasks"}. Inside a task, prefer
    ``context.emit``: it records which run emitted the event (loop guard).
    """
    from extensions_core.services.events import event_emit

    event = event_emit(event_type=event_type, event_data=event_data or {}, source="extension", emitted_by=emitted_by)
    return {"event_id": str(event.id), "triggered_tasks": event.triggered_tasks}


def route(path: str, methods: Iterable[str] = ("GET",)) -> Callable[[Callable], Callable]:
    """Mark a method of a BaseExtension subclass as the view of *path* for *methods*.

    The view is called as ``view(request, **path_parameters)`` and returns a
    DRF Response, or data (dict, list) that is answered as JSON with status 200.
    The path and methods must be declared in the manifest's api.endpoints.
    """
    declared = tuple(method.upper() for method in methods)

    def mark(function: Callable) -> Callable:
        routes = getattr(function, _ROUTE_ATTRIBUTE, ())
        setattr(function, _ROUTE_ATTRIBUTE, (*routes, (path, declared)))
        return function

    return mark


def page(path: str) -> Callable[[Callable], Callable]:
    """Mark a method of a BaseExtension subclass as the context function of the page at *path*.

    The method is called as ``method(request)`` and returns a dict: the context
    of the page's template (``ui.control_room_pages[].template``, default
    ``templates/pages{path}.html`` in the package), rendered inside the admin.
    The template also receives ``extension`` (name, display_name, version),
    ``page`` and ``request``. The path must be declared in the manifest's
    ``ui.control_room_pages`` or ``ui.admin_pages``. A page without a method
    renders its template with that base context.
    """
    return _marker(_PAGE_ATTRIBUTE, path)


def widget(name: str) -> Callable[[Callable], Callable]:
    """Mark a method as the context function of the dashboard widget *name* (``ui.dashboard_widgets[].name``).

    Called as ``method(request)``; returns the dict its template
    (default ``templates/widgets/{name}.html``) is rendered with. A widget's
    render is bounded in time and isolated: if it raises or is slow, only its
    own box shows the error.
    """
    return _marker(_WIDGET_ATTRIBUTE, name)


def _marker(attribute: str, key: str) -> Callable[[Callable], Callable]:
    def mark(function: Callable) -> Callable:
        setattr(function, attribute, (*getattr(function, attribute, ()), key))
        return function

    return mark


class BaseExtension:
    """Base class of every extension: lifecycle hooks, views, task functions and health."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        config: dict[str, Any] | None = None,
        package: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.manifest = manifest
        self.config = dict(config or {})
        self.package = package
        self.logger = logger or logging.getLogger(f"karen.extensions.{manifest.name}")

    @property
    def name(self) -> str:
        return self.manifest.name

    def initialize(self) -> None:
        """Prepare the extension (open clients, warm caches). Raising refuses the load.

        May be a coroutine function. Runs in every web and worker process that
        loads the extension, under the platform's load timeout.
        """

    def shutdown(self) -> None:
        """Release what initialize() acquired; called on unload, reload and disable."""

    def configure(self, config: dict[str, Any]) -> None:
        """Apply a new, already validated configuration (default: replace self.config)."""
        self.config = dict(config)

    def health_check(self) -> dict[str, Any]:
        """Return the extension's health; "healthy" (bool) is required, other keys are free."""
        return {"healthy": True}

    def get_routes(self) -> list[Route]:
        """Return the views this extension provides (methods marked with @route)."""
        routes = []
        for attribute in dir(type(self)):
            function = getattr(type(self), attribute, None)
            for path, methods in getattr(function, _ROUTE_ATTRIBUTE, ()):
                routes.append(Route(path=path, methods=methods, handler=getattr(self, attribute)))
        return sorted(routes, key=lambda item: (item.path, item.methods))

    def recent_runs(self, *, limit: int = 10) -> list[dict[str, Any]]:
        """Return this extension's newest task runs (newest first): for its pages and widgets.

        Each is a dict: ``execution_id``, ``task_name``, ``status``,
        ``failure_reason``, ``trigger_type``, ``queued_at``, ``finished_at``,
        ``duration_seconds`` and ``admin_url`` (its page in the admin).
        """
        from extensions_core.models import TaskExecution

        rows = TaskExecution.objects.filter(extension_name=self.manifest.name).order_by("-queued_at", "-id")
        fields = ("id", "task_name", "status", "failure_reason", "trigger_type", "queued_at", "finished_at")
        return [
            {
                **{key: row[key] for key in fields if key != "id"},
                "execution_id": str(row["id"]),
                "duration_seconds": row["duration_seconds"],
                "admin_url": f"/admin/extensions_core/taskexecution/{row['id']}/change/",
            }
            for row in rows.values(*fields, "duration_seconds")[: max(0, min(limit, 100))]
        ]

    def get_pages(self) -> dict[str, Callable[..., Any]]:
        """Return {page path: context function} of the methods marked with @page."""
        return self._marked(_PAGE_ATTRIBUTE)

    def get_widgets(self) -> dict[str, Callable[..., Any]]:
        """Return {widget name: context function} of the methods marked with @widget."""
        return self._marked(_WIDGET_ATTRIBUTE)

    def _marked(self, marker: str) -> dict[str, Callable[..., Any]]:
        found = {}
        for attribute in dir(type(self)):
            for key in getattr(getattr(type(self), attribute, None), marker, ()):
                found[key] = getattr(self, attribute)
        return found

    def get_task_function(self, function: str) -> Callable[..., Any]:
        """Return the callable a task's `function` names.

        A bare name ("hourly_cleanup_task") is a method of this extension; a
        dotted one ("tasks.collect_metrics") is a function of a module of the
        extension package. Raise LookupError naming what is missing.
        """
        if "." not in function:
            handler = getattr(self, function, None)
            if not callable(handler):
                raise LookupError(f'{type(self).__name__} has no method "{function}"')
            return handler
        module_path, _, attribute = function.rpartition(".")
        if not self.package:
            raise LookupError(f'"{function}" names a module, but the extension has no package')
        module = importlib.import_module(f"{self.package}.{module_path}")
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise LookupError(f'module "{module_path}" of the extension has no function "{attribute}"')
        return handler
