"""Background-task views: run a task, executions, cancel, events, triggers, stats and health.

Each view authorizes with permissions.py, calls one selector or service and serializes.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from extensions_core.api.pagination import NewestFirstCursorPagination
from extensions_core.api.serializers import (
    EmitResultSerializer,
    EmitSerializer,
    ErrorSerializer,
    EventPageSerializer,
    EventSerializer,
    ExecuteSerializer,
    ExecutionDetailSerializer,
    ExecutionPageSerializer,
    ExecutionQuerySerializer,
    ExecutionSerializer,
    TaskHealthSerializer,
    TaskStatsSerializer,
    TriggerSerializer,
    TriggerUpdateSerializer,
)
from extensions_core.api.views import NAME_PATTERN, errors
from extensions_core.health import task_health, task_stats
from extensions_core.models import Event, EventTrigger, TaskExecution
from extensions_core.permissions import can_emit_event, can_run_task, can_view_events
from extensions_core.selectors import (
    event_list_for_user,
    execution_get_for_user,
    execution_list_for_user,
    task_definition_get_for_user,
    task_names_visible_to,
    trigger_get_for_user,
    trigger_list_for_user,
)
from extensions_core.services.events import event_emit, trigger_create, trigger_delete, trigger_update
from extensions_core.services.executions import execution_cancel, execution_start

TAGS = ["background-tasks"]
TASK_PATH = [
    OpenApiParameter("extension", str, OpenApiParameter.PATH, pattern=NAME_PATTERN),
    OpenApiParameter("task", str, OpenApiParameter.PATH, pattern=r"^[a-z][a-z0-9_]*$"),
]
EXECUTION_ID = OpenApiParameter("execution_id", str, OpenApiParameter.PATH, description="Execution id (UUID).")
TRIGGER_ID = OpenApiParameter("trigger_id", int, OpenApiParameter.PATH)
PAGE = [
    OpenApiParameter("cursor", str, description="From the next/previous links."),
    OpenApiParameter("page_size", int, description="At most 500 (default 50)."),
]


BAD_CURSOR = {(404, "application/json"): OpenApiResponse(ErrorSerializer, description="Invalid cursor.")}


def _who(request: Request) -> str:
    return f"user {request.user.get_username()}"


def _paginated(view: APIView, rows, serializer, ordering=("-queued_at", "-id"), context=None) -> Response:
    paginator = NewestFirstCursorPagination(ordering)
    page = paginator.paginate_queryset(rows, view.request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, context=context or {}).data)


def _runnable(request: Request, definition) -> None:
    if not can_run_task(request.user, definition):
        raise PermissionDenied("You may see this task, but not run it (needs run_taskdefinition).")


class ExecuteView(APIView):
    @extend_schema(
        operation_id="tasks_execute",
        summary="Run a task now (asynchronously)",
        description="Answers 202 with the pending execution; poll its URL or list executions to follow it.",
        parameters=TASK_PATH,
        request=ExecuteSerializer,
        responses={202: ExecutionSerializer, **errors(400, 401, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request: Request, extension: str, task: str) -> Response:
        definition = task_definition_get_for_user(request.user, extension, task)
        _runnable(request, definition)
        body = ExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        execution = execution_start(
            definition=definition,
            trigger_type=TaskExecution.Trigger.MANUAL,
            parameters=body.validated_data["parameters"],
            triggered_by=_who(request),
            user=request.user,
        )
        execution.refresh_from_db()
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class ExecutionListView(APIView):
    active_only = False

    @extend_schema(
        operation_id="executions_list",
        summary="Execution history of the tasks you may see, newest first",
        parameters=[ExecutionQuerySerializer, *PAGE],
        responses={200: ExecutionPageSerializer, **errors(400, 401), **BAD_CURSOR},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = ExecutionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = execution_list_for_user(request.user, active_only=self.active_only, **query.validated_data)
        return _paginated(self, rows, ExecutionSerializer)


class ActiveExecutionListView(ExecutionListView):
    active_only = True

    @extend_schema(
        operation_id="executions_active",
        summary="Pending and running executions of the tasks you may see",
        parameters=[ExecutionQuerySerializer, *PAGE],
        responses={200: ExecutionPageSerializer, **errors(400, 401), **BAD_CURSOR},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ExecutionDetailView(APIView):
    @extend_schema(
        operation_id="executions_retrieve",
        summary="One execution, with its traceback and log",
        parameters=[EXECUTION_ID],
        responses={200: ExecutionDetailSerializer, **errors(401, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, execution_id: str) -> Response:
        return Response(ExecutionDetailSerializer(execution_get_for_user(request.user, execution_id)).data)


class ExecutionCancelView(APIView):
    @extend_schema(
        operation_id="executions_cancel",
        summary="Cancel a pending execution, or stop a running one (within seconds)",
        parameters=[EXECUTION_ID],
        request=None,
        responses={200: ExecutionSerializer, **errors(401, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = execution_get_for_user(request.user, execution_id)
        if execution.definition is not None:
            _runnable(request, execution.definition)
        execution = execution_cancel(execution=execution, by=_who(request))
        return Response(ExecutionSerializer(execution).data)


class EventEmitView(APIView):
    @extend_schema(
        operation_id="events_emit",
        summary="Emit an event: stored, and every enabled matching trigger starts its task",
        request=EmitSerializer,
        responses={202: EmitResultSerializer, **errors(400, 401, 403)},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        if not can_emit_event(request.user):
            raise PermissionDenied("Emitting events needs the add_event permission.")
        body = EmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = event_emit(
            event_type=body.validated_data["event_type"],
            event_data=body.validated_data["event_data"],
            source=Event.Source.API,
            emitted_by=_who(request),
            user=request.user,
        )
        started = [entry["execution_id"] for entry in event.triggered_tasks if entry.get("execution_id")]
        # Only what the caller may see is named: the others are a count (triggered_elsewhere).
        event.started_executions = list(execution_list_for_user(request.user).filter(pk__in=started))
        context = {"visible_tasks": task_names_visible_to(request.user)}
        return Response(EmitResultSerializer(event, context=context).data, status=status.HTTP_202_ACCEPTED)


class EventListView(APIView):
    @extend_schema(
        operation_id="events_list",
        summary="Event history, newest first",
        parameters=[
            OpenApiParameter("event_type", str),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Emitted at or after (ISO 8601)."),
            *PAGE,
        ],
        responses={200: EventPageSerializer, **errors(400, 401, 403), **BAD_CURSOR},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        if not can_view_events(request.user):
            raise PermissionDenied("Reading the event history needs the view_event permission.")
        query = ExecutionQuerySerializer(
            data={"since": request.query_params.get("since")} if "since" in request.query_params else {}
        )
        query.is_valid(raise_exception=True)
        rows = event_list_for_user(
            request.user, event_type=request.query_params.get("event_type"), since=query.validated_data.get("since")
        )
        context = {"visible_tasks": task_names_visible_to(request.user)}
        return _paginated(self, rows, EventSerializer, ordering=("-created_at", "-id"), context=context)


class TriggerListView(APIView):
    @extend_schema(
        operation_id="triggers_list",
        summary="Event triggers of the tasks you may see",
        parameters=[OpenApiParameter("event_type", str)],
        responses={200: TriggerSerializer(many=True), **errors(401)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        rows = trigger_list_for_user(request.user, event_type=request.query_params.get("event_type"))
        return Response(TriggerSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="triggers_create",
        summary="Start a task whenever a matching event is emitted",
        request=TriggerSerializer,
        responses={201: TriggerSerializer, **errors(400, 401, 403, 404)},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = TriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        definition = task_definition_get_for_user(
            request.user, data["definition"]["extension"]["name"], data["definition"]["name"]
        )
        _runnable(request, definition)
        trigger = trigger_create(
            definition=definition,
            event_type=data["event_type"],
            filter_conditions=data.get("filter_conditions"),
            is_enabled=data.get("is_enabled", True),
            source=EventTrigger.Source.API,
            created_by=_who(request),
        )
        return Response(TriggerSerializer(trigger).data, status=status.HTTP_201_CREATED)


class TriggerDetailView(APIView):
    @extend_schema(
        operation_id="triggers_retrieve",
        summary="One event trigger",
        parameters=[TRIGGER_ID],
        responses={200: TriggerSerializer, **errors(401, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, trigger_id: int) -> Response:
        return Response(TriggerSerializer(trigger_get_for_user(request.user, trigger_id)).data)

    @extend_schema(
        operation_id="triggers_update",
        summary="Change an event trigger's event, filter or enabled flag",
        parameters=[TRIGGER_ID],
        request=TriggerUpdateSerializer,
        responses={200: TriggerSerializer, **errors(400, 401, 403, 404)},
        tags=TAGS,
    )
    def patch(self, request: Request, trigger_id: int) -> Response:
        trigger = trigger_get_for_user(request.user, trigger_id)
        _runnable(request, trigger.definition)
        body = TriggerUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "enabled" in changes:
            changes["is_enabled"] = changes.pop("enabled")
        return Response(TriggerSerializer(trigger_update(trigger=trigger, changes=changes)).data)

    @extend_schema(
        operation_id="triggers_destroy",
        summary="Delete an event trigger",
        parameters=[TRIGGER_ID],
        responses={204: None, **errors(401, 403, 404)},
        tags=TAGS,
    )
    def delete(self, request: Request, trigger_id: int) -> Response:
        trigger = trigger_get_for_user(request.user, trigger_id)
        _runnable(request, trigger.definition)
        trigger_delete(trigger=trigger)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskStatsView(APIView):
    @extend_schema(
        operation_id="tasks_stats",
        summary="Executions of the tasks you may see: counts, success rate, duration percentiles, per extension",
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Queued at or after (ISO 8601); default 24 h ago."
            )
        ],
        responses={200: TaskStatsSerializer, **errors(400, 401)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = ExecutionQuerySerializer(
            data={"since": request.query_params["since"]} if "since" in request.query_params else {}
        )
        query.is_valid(raise_exception=True)
        return Response(task_stats(request.user, since=query.validated_data.get("since")))


class TaskHealthView(APIView):
    @extend_schema(
        operation_id="tasks_health",
        summary="Workers and beat alive, queue depth, stuck executions",
        responses={200: TaskHealthSerializer, **errors(401)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(task_health(request.user))
