"""The shipped background-task extension: manifest, tasks, and task functions that run."""

from __future__ import annotations

import logging

import pytest

from extensions_core.manifest import read_manifest
from extensions_core.registry import registry
from extensions_core.sdk import TaskContext
from extensions_core.services import extension_load
from tests.conftest import SHIPPED

pytestmark = pytest.mark.django_db


@pytest.fixture
def extension(shipped):
    extension_load(name="background-task-extension")
    return registry.entries["background-task-extension"].instance


def context(task: str, **extra) -> TaskContext:
    return TaskContext(
        execution_id="test-1",
        task_name=task,
        extension_name="background-task-extension",
        parameters=extra.pop("parameters", {}),
        event=extra.pop("event", None),
        logger=logging.getLogger("test"),
        **extra,
    )


def test_manifest_keeps_the_first_systems_three_schedules():
    manifest = read_manifest(SHIPPED / "background-task-extension")

    schedules = {task.name: task.schedule for task in manifest.tasks if task.schedule}
    assert schedules == {
        "hourly_cleanup": "0 * * * *",
        "daily_report": "0 9 * * *",
        "system_health_check": "*/5 * * * *",
    }
    manual = next(task for task in manifest.tasks if task.name == "manual_task")
    assert set(manual.parameters["properties"]) == {"message", "delay"}
    handler = next(task for task in manifest.tasks if task.name == "handle_extension_loaded_event")
    assert [trigger.event for trigger in handler.triggers] == ["extension.loaded"]


@pytest.mark.parametrize("task", ["hourly_cleanup", "daily_report", "system_health_check"])
def test_scheduled_task_functions_return_a_result(extension, task):
    spec = next(item for item in extension.manifest.tasks if item.name == task)

    result = extension.get_task_function(spec.function)(context(task))

    assert result["task"] == task
    assert result["status"] == "success"


def test_manual_task_uses_its_parameters(extension):
    result = extension.get_task_function("manual_task")(context("manual_task"), message="hi", delay=0)

    assert (result["message"], result["delay"]) == ("hi", 0)


def test_manual_task_stops_early_when_cancelled(extension):
    result = extension.get_task_function("manual_task")(context("manual_task", is_cancelled=lambda: True), delay=30)

    assert result["status"] == "success"


def test_extension_loaded_handler_reads_the_event(extension):
    event = {"event_type": "extension.loaded", "event_data": {"extension_name": "hello-extension"}}

    result = extension.get_task_function("handle_extension_loaded_event")(context("handle", event=event))

    assert result["loaded_extension"] == "hello-extension"


def test_status_view_lists_the_tasks(extension):
    [route] = extension.get_routes()

    status = route.handler(None)

    assert route.path == "/status"
    assert [task["name"] for task in status["tasks"]] == [
        "hourly_cleanup",
        "daily_report",
        "system_health_check",
        "manual_task",
        "handle_extension_loaded_event",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_recent_runs_widget_lists_the_newest_runs_with_links(extension, admin_client):
    import uuid

    from django.utils import timezone

    from extensions_core.models import TaskDefinition, TaskExecution

    definition = TaskDefinition.objects.get(extension__name="background-task-extension", name="manual_task")
    run = TaskExecution.objects.create(
        id=uuid.uuid4(),
        definition=definition,
        extension_name="background-task-extension",
        task_name="manual_task",
        status="failed",
        failure_reason="timeout",
        trigger_type="manual",
        queued_at=timezone.now(),
        duration_seconds=1.25,
    )

    body = admin_client.get("/admin/extensions/background-task-extension/widgets/recent-runs/").content.decode()

    assert f'<a href="/admin/extensions_core/taskexecution/{run.pk}/change/">manual_task</a>' in body
    assert "failed (timeout)" in body and "1.250 s" in body
