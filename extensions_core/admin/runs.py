"""Running tasks from the admin: the form built from a task's parameters schema, "Run again", a run's live view."""

from __future__ import annotations

from html import escape

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from extensions_core.exceptions import ExecutionNotFoundError, ExtensionError, TaskInputError
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.permissions import can_run_task, can_view_task
from extensions_core.schema_forms import SchemaForm
from extensions_core.selectors import execution_get_for_user, execution_log_after
from extensions_core.services.executions import execution_start

# An execution's page asks for its status and new log lines this often while the run is not finished.
LIVE_SECONDS = 1
# htmx stops polling an element when the answer has this status.
STOP_POLLING = 286


# Stand-ins for the markup around each line while the whole text is escaped at once (control characters that
# escape() leaves alone); put back afterwards. A log value holding one shows U+FFFD in its place.
_OPEN, _CLASS_END, _CLOSE = "\x01", "\x02", "\x03"
_NO_STAND_INS = str.maketrans({_OPEN: "\ufffd", _CLASS_END: "\ufffd", _CLOSE: "\ufffd"})


def log_html(lines: list) -> str:
    """Return log lines ([at, level, message]) as escaped HTML, one span per line.

    The text of every line is built with stand-ins for the markup, escaped in
    one call, and the markup put back: 10,000 lines took 14 ms escaped one
    value at a time, about half as much so.
    """
    text = None
    if all(type(line) is list for line in lines):  # the usual shape: [at, level, message] strings
        try:
            text = _marked(lines)
        except (TypeError, ValueError):  # not three values, or one that cannot be formatted
            text = None
    if text is None or any(text.count(mark) != len(lines) for mark in (_OPEN, _CLASS_END, _CLOSE)):
        text = _marked([_columns(line) for line in lines])
    html = escape(text).replace(_OPEN, '<span class="cr-level-').replace(_CLASS_END, '">').replace(_CLOSE, "</span>\n")
    return mark_safe(html)  # noqa: S308 - all the text is escaped, the markup added afterwards


def _marked(lines: list) -> str:
    return "".join(
        [f"{_OPEN}{level!s}{_CLASS_END}{at!s}  {level!s:<8} {message!s}{_CLOSE}" for at, level, message in lines]
    )


def _columns(line) -> tuple[str, str, str]:
    """Any line as three strings, without the markup's stand-ins."""
    at, level, message = (*line, "", "", "")[:3] if isinstance(line, list | tuple) else ("", "", line)
    return tuple(str(value).translate(_NO_STAND_INS) for value in (at, level, message))


def _definition_for(request: HttpRequest, definition_id: str) -> TaskDefinition:
    definition = TaskDefinition.objects.select_related("extension").filter(pk=definition_id).first()
    if definition is None or not can_view_task(request.user, definition):
        raise Http404("No such task definition is visible to you.")
    if not can_run_task(request.user, definition):
        raise PermissionDenied(f'You may not run "{definition}" (needs run_taskdefinition).')
    return definition


def _start(request: HttpRequest, definition: TaskDefinition, parameters: dict, *, again_of: str = ""):
    by = f"user {request.user.get_username()} (admin)" + (f", again as {again_of}" if again_of else "")
    return execution_start(
        definition=definition,
        trigger_type=TaskExecution.Trigger.MANUAL,
        parameters=parameters,
        triggered_by=by,
        user=request.user,
    )


def run_form_view(request: HttpRequest, definition_id: str) -> HttpResponse:
    """/admin/extensions_core/taskdefinition/{id}/run/: a form from the parameters schema; submitting starts a run."""
    definition = _definition_for(request, definition_id)
    initial = {}
    source = request.GET.get("from")
    if source:
        try:
            initial = execution_get_for_user(request.user, source).parameters or {}
        except ExecutionNotFoundError:
            messages.warning(request, f"Run {source} is not visible to you; the form starts from the defaults.")
    form = SchemaForm(definition.parameters_schema, request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            execution = _start(request, definition, form.value())
        except TaskInputError as error:
            form.show_errors(error.problems)
        except ExtensionError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Started {definition} as run {execution.pk}.")
            return redirect("admin:extensions_core_taskexecution_change", execution.pk)
    context = {
        **admin.site.each_context(request),
        "title": f"Run {definition}",
        "definition": definition,
        "form": form,
        "opts": TaskDefinition._meta,
        "has_parameters": bool(form.fields),
    }
    return TemplateResponse(request, "admin/extensions_core/taskdefinition/run.html", context)


def run_again_view(request: HttpRequest, execution_id: str) -> HttpResponse:
    """POST: start the same task with the same parameters as run *execution_id*; go to the new run."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        execution = execution_get_for_user(request.user, execution_id)
    except ExecutionNotFoundError as error:
        raise Http404(error.message) from error
    if execution.definition is None:
        messages.error(request, "Its task definition no longer exists, so it cannot run again.")
        return redirect("admin:extensions_core_taskexecution_change", execution.pk)
    definition = _definition_for(request, str(execution.definition_id))
    try:
        again = _start(request, definition, execution.parameters or {}, again_of=str(execution.pk))
    except ExtensionError as error:
        messages.error(request, error.message)
        return redirect("admin:extensions_core_taskexecution_change", execution.pk)
    messages.success(request, f"Started {definition} again as run {again.pk}, with the parameters of {execution.pk}.")
    return redirect("admin:extensions_core_taskexecution_change", again.pk)


def execution_live_view(request: HttpRequest, execution_id: str) -> HttpResponse:
    """A run's status, times, result and the log lines after ?after=N, as its page polls them.

    Once the run has ended: 286 (htmx: stop polling) and HX-Refresh, so the page is shown again, final.
    """
    try:
        execution = execution_get_for_user(request.user, execution_id, with_log=False)
    except ExecutionNotFoundError as error:
        raise Http404(error.message) from error
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    line_count, new_lines = execution_log_after(execution.pk, after)
    context = {
        "execution": execution,
        "new_lines": log_html(new_lines),
        "line_count": line_count,
        "live_seconds": LIVE_SECONDS,
        "live_url": reverse("admin:extensions_core_taskexecution_live", args=[execution.pk]),
    }
    if not execution.is_finished:
        return TemplateResponse(request, "admin/extensions_core/taskexecution/live.html", context)
    response = TemplateResponse(request, "admin/extensions_core/taskexecution/live.html", context, status=STOP_POLLING)
    # The run ended: the whole page is shown again once, so every field (not only the live part) is final.
    response["HX-Refresh"] = "true"
    return response
