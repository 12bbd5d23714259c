"""`manage.py tasks run | executions | cancel` and `manage.py events emit | triggers`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from extensions_core.models import Event, TaskExecution
from extensions_core.services import extension_load

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def loaded(shipped):
    extension_load(name="background-task-extension")


def test_run_queues_an_execution_with_typed_parameters(loaded):
    output = json.loads(
        run(
            "tasks",
            "run",
            "background-task-extension",
            "manual_task",
            "--param",
            "message=hi",
            "--param",
            "delay=0.5",
            "--json",
        )
    )

    assert output["status"] == "pending" and output["trigger_type"] == "manual"
    assert TaskExecution.objects.get().parameters == {"message": "hi", "delay": 0.5}


def test_run_fails_with_one_line_naming_the_problem(loaded):
    with pytest.raises(CommandError, match='parameters of task "manual_task" are not valid'):
        run("tasks", "run", "background-task-extension", "manual_task", "--param", "delay=99")
    with pytest.raises(CommandError, match='has no task "nope"'):
        run("tasks", "run", "background-task-extension", "nope")
    with pytest.raises(CommandError, match="not key=value"):
        run("tasks", "run", "background-task-extension", "manual_task", "--param", "delay")


def test_wait_gives_up_clearly_when_no_worker_runs(loaded):
    with pytest.raises(CommandError, match="still pending after 0.3 s; is a worker running"):
        run("tasks", "run", "background-task-extension", "manual_task", "--wait", "--timeout", "0.3")


def test_executions_lists_and_cancel_cancels(loaded):
    queued = json.loads(run("tasks", "run", "background-task-extension", "manual_task", "--json"))

    table = run("tasks", "executions")
    cancelled = json.loads(run("tasks", "cancel", queued["execution_id"], "--json"))
    filtered = json.loads(run("tasks", "executions", "--status", "cancelled", "--json"))

    assert queued["execution_id"] in table and "manual_task" in table and "PENDING" not in table
    assert cancelled["status"] == "cancelled"
    assert [row["execution_id"] for row in filtered] == [queued["execution_id"]]
    with pytest.raises(CommandError, match="already finished"):
        run("tasks", "cancel", queued["execution_id"])
    with pytest.raises(CommandError, match="no execution"):
        run("tasks", "cancel", "not-an-id")


def test_events_emit_starts_triggers_and_lists_them(loaded):
    output = run("events", "emit", "extension.loaded", "--data", '{"extension_name": "x"}')
    triggers = run("events", "triggers")

    assert "1 task(s) started" in output
    assert "background-task-extension/handle_extension_loaded_event" in output
    assert Event.objects.get(event_type="extension.loaded", source="command").event_data == {"extension_name": "x"}
    assert "extension.loaded" in triggers and "manifest" in triggers
    with pytest.raises(CommandError, match="--data is not JSON"):
        run("events", "emit", "a.b", "--data", "{nope")
    with pytest.raises(CommandError, match="dotted lowercase"):
        run("events", "emit", "Not An Event")
