"""Execution state changes without a worker: validation, claim-once, cancel, retries, dependencies, the reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from extensions_core.exceptions import TaskInputError, TaskStateError
from extensions_core.executions.outcome import Outcome
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.services import extension_discover, extension_unload
from extensions_core.services.executions import (
    execution_cancel,
    execution_claim,
    execution_finish,
    execution_start,
    execution_start_scheduled,
)
from extensions_core.services.heartbeats import EXECUTION_STALE_AFTER
from extensions_core.services.reaping import MAX_DISPATCHES, executions_reap
from tests.conftest import broker_queue_purge, install_fixture

pytestmark = pytest.mark.django_db

Status = TaskExecution.Status


@pytest.fixture
def lab(extensions_root):
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)


def definition(task: str) -> TaskDefinition:
    return TaskDefinition.objects.select_related("extension").get(extension__name="task-lab", name=task)


def start(task: str, **parameters) -> TaskExecution:
    return execution_start(definition=definition(task), trigger_type="manual", parameters=parameters)


def run_to_end(execution: TaskExecution, outcome: Outcome) -> TaskExecution:
    claimed = execution_claim(execution_id=str(execution.pk), worker="test:1")
    assert claimed is not None
    assert execution_finish(execution=claimed, outcome=outcome)
    claimed.refresh_from_db()
    return claimed


def test_parameters_are_checked_against_the_schema(lab):
    with pytest.raises(TaskInputError) as caught:
        start("succeed", value="three", extra=1)

    assert caught.value.code == "invalid_parameters"
    assert {problem.field for problem in caught.value.problems} == {"parameters", "parameters.value"}
    assert not TaskExecution.objects.exists()


def test_a_task_of_an_inactive_extension_or_a_disabled_task_does_not_start(lab):
    task = definition("succeed")
    task.is_enabled = False
    task.save()
    with pytest.raises(TaskStateError) as disabled:
        start("succeed")
    extension_unload(name="task-lab")
    with pytest.raises(TaskStateError) as inactive:
        start("fail")

    assert disabled.value.code == "task_disabled"
    assert inactive.value.code == "extension_not_active"
    assert "load it first" in inactive.value.message


def test_a_message_delivered_twice_is_claimed_once(lab):
    execution = start("succeed")

    first = execution_claim(execution_id=str(execution.pk), worker="a:1")
    second = execution_claim(execution_id=str(execution.pk), worker="b:2")

    assert first is not None and first.status == Status.RUNNING and first.worker == "a:1"
    assert second is None


def test_a_cancel_racing_completion_leaves_one_final_state(lab):
    execution = start("succeed")
    claimed = execution_claim(execution_id=str(execution.pk), worker="a:1")
    execution_cancel(execution=claimed)
    finished = execution_finish(execution=claimed, outcome=Outcome(status="completed", result=1))
    again = execution_finish(execution=claimed, outcome=Outcome(status="cancelled"))
    claimed.refresh_from_db()

    assert finished is True and again is False
    assert claimed.status == Status.COMPLETED and claimed.cancel_requested_at is not None
    with pytest.raises(TaskStateError):
        execution_cancel(execution=claimed)


def test_a_cancelled_pending_execution_never_runs(lab):
    execution = start("succeed")
    execution_cancel(execution=execution, by="test")

    assert execution.status == Status.CANCELLED and execution.error == "cancelled by test"
    assert execution_claim(execution_id=str(execution.pk), worker="a:1") is None


def test_a_failed_attempt_is_retried_with_backoff_until_max_retries(lab):
    first = run_to_end(start("flaky"), Outcome(status="failed", failure_reason="exception", error="E1"))
    second = TaskExecution.objects.get(retry_of=first)
    second = run_to_end(second, Outcome(status="failed", failure_reason="exception", error="E2"))
    third = TaskExecution.objects.get(retry_of=second)
    fourth = TaskExecution.objects.get(retry_of=run_to_end(third, Outcome(status="failed", error="E3")))
    run_to_end(fourth, Outcome(status="failed", failure_reason="exception", error="E4"))

    assert [row.error for row in TaskExecution.objects.order_by("attempt")] == ["E1", "E2", "E3", "E4"]
    assert second.trigger_type == "retry" and second.attempt == 2 and second.max_attempts == 4
    assert (second.not_before - second.queued_at).total_seconds() == pytest.approx(0.5, abs=0.05)
    assert (third.not_before - third.queued_at).total_seconds() == pytest.approx(1.0, abs=0.05)
    assert TaskExecution.objects.count() == 4  # max_retries 3: no fifth attempt


def test_dependencies_start_first_and_the_dependent_waits(lab):
    final = start("final")
    steps = {row.task_name: row for row in TaskExecution.objects.filter(parent=final)}

    assert final.is_waiting_for_dependencies and final.dispatched_at is None
    assert execution_claim(execution_id=str(final.pk), worker="a:1") is None
    run_to_end(steps["step_a"], Outcome(status="completed", result=1))
    final.refresh_from_db()
    assert final.is_waiting_for_dependencies
    run_to_end(steps["step_b"], Outcome(status="completed", result=2))
    final.refresh_from_db()
    assert not final.is_waiting_for_dependencies and final.dispatched_at is not None


def test_a_failed_dependency_fails_the_dependent_and_cancelling_it_cancels_the_rest(lab):
    doomed = start("after_failure")
    steps = {row.task_name: row for row in TaskExecution.objects.filter(parent=doomed)}
    run_to_end(steps["fail"], Outcome(status="failed", failure_reason="exception", error="ValueError: boom"))
    doomed.refresh_from_db()
    waiting = start("final")
    execution_cancel(execution=waiting)

    assert (doomed.status, doomed.failure_reason) == (Status.FAILED, "dependency_failed")
    assert doomed.error == 'dependency "fail" failed (exception): ValueError: boom'
    assert set(TaskExecution.objects.filter(parent=waiting).values_list("status", flat=True)) == {"cancelled"}


def test_the_reaper_fails_runs_whose_worker_stopped_beating(lab):
    execution = start("nap")
    claimed = execution_claim(execution_id=str(execution.pk), worker="gone:1")
    alive = execution_claim(execution_id=str(start("nap").pk), worker="here:2")
    TaskExecution.objects.filter(pk=claimed.pk).update(
        heartbeat_at=timezone.now() - EXECUTION_STALE_AFTER - timedelta(seconds=1)
    )

    report = executions_reap()
    claimed.refresh_from_db()
    alive.refresh_from_db()

    assert report.worker_lost == 1
    assert (claimed.status, claimed.failure_reason) == (Status.FAILED, "worker_lost")
    assert "gone:1 stopped beating" in claimed.error
    assert alive.status == Status.RUNNING


def test_the_reaper_resends_lost_messages_then_gives_up(lab):
    execution = start("succeed")
    broker_queue_purge()  # its message is lost
    long_ago = timezone.now() - timedelta(hours=2)
    TaskExecution.objects.filter(pk=execution.pk).update(dispatched_at=long_ago, queued_at=long_ago)

    resent = executions_reap()
    execution.refresh_from_db()
    assert resent.redispatched == 1 and execution.dispatch_count == 2
    TaskExecution.objects.filter(pk=execution.pk).update(dispatched_at=long_ago, dispatch_count=MAX_DISPATCHES)
    given_up = executions_reap()
    execution.refresh_from_db()

    assert given_up.message_lost == 1
    assert (execution.status, execution.failure_reason) == (Status.FAILED, "message_lost")


def sent(task: str) -> TaskExecution:
    """Start a run and publish its message now (a test's transaction never commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return start(task)


def test_the_reaper_does_not_resend_what_still_waits_in_the_broker_queue(lab):
    lost = sent("succeed")
    broker_queue_purge()
    waiting = [sent("succeed") for _ in range(3)]
    now = timezone.now()
    TaskExecution.objects.filter(pk=lost.pk).update(dispatched_at=now - timedelta(minutes=3))
    for index, execution in enumerate(waiting):  # a backlog: sent minutes ago, still queued behind each other
        TaskExecution.objects.filter(pk=execution.pk).update(dispatched_at=now - timedelta(minutes=2, seconds=-index))

    report = executions_reap()

    assert report.redispatched == 1
    counts = dict(TaskExecution.objects.values_list("pk", "dispatch_count"))
    assert counts[lost.pk] == 2
    assert [counts[execution.pk] for execution in waiting] == [1, 1, 1]


def test_a_run_waiting_in_the_broker_queue_for_the_hour_is_given_up_as_before(lab):
    broker_queue_purge()
    execution = sent("succeed")
    long_ago = timezone.now() - timedelta(hours=2)
    TaskExecution.objects.filter(pk=execution.pk).update(dispatched_at=long_ago, queued_at=long_ago)

    report = executions_reap()
    execution.refresh_from_db()

    assert (report.redispatched, report.message_lost) == (0, 1)
    assert (execution.status, execution.failure_reason) == (Status.FAILED, "message_lost")
    assert "no worker picked it up" in execution.error


def test_a_row_whose_first_send_failed_is_sent_again(lab):
    execution = start("succeed")
    TaskExecution.objects.filter(pk=execution.pk).update(
        dispatched_at=None, dispatch_error="OperationalError: down", queued_at=timezone.now() - timedelta(seconds=10)
    )

    assert executions_reap().redispatched == 1


def test_a_claimed_run_is_its_row_as_stored(lab):
    task = definition("succeed")
    task.interval_seconds = 60
    task.save()
    started = execution_start_scheduled(
        extension_name="task-lab", task_name="succeed", message_id="6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    )

    claimed = execution_claim(execution_id=str(started.pk), worker="test:1")
    stored = TaskExecution.objects.get(pk=started.pk)

    # Every field as the database holds it (the task events report the trigger; it once read the model default).
    assert claimed.trigger_type == "schedule"
    for field in TaskExecution._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(stored, field.attname), field.attname
    assert claimed._state.adding is False


def test_a_scheduled_message_delivered_twice_starts_one_execution(lab):
    task = definition("succeed")
    task.interval_seconds = 60
    task.save()
    message = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

    first = execution_start_scheduled(extension_name="task-lab", task_name="succeed", message_id=message)
    second = execution_start_scheduled(extension_name="task-lab", task_name="succeed", message_id=message)

    assert str(first.pk) == message and first.trigger_type == "schedule"
    assert second is None and TaskExecution.objects.count() == 1


@pytest.mark.needs_redis  # the filesystem broker of the embedded stack keeps its files
def test_after_the_broker_lost_its_data_every_pending_run_is_sent_again_by_one_reaper(lab):
    from extensions_core.broker import EPOCH_KEY, _redis_client

    executions = [start("succeed") for _ in range(3)]
    executions_reap()  # whatever this Redis held before, its epoch is known now
    _redis_client().delete(EPOCH_KEY)  # what a restart without persistence does

    first = executions_reap()
    second = executions_reap()

    assert first.redispatched == 3
    assert second.redispatched == 0
    assert {row.dispatch_count for row in TaskExecution.objects.filter(pk__in=[row.pk for row in executions])} == {2}


def test_a_parameters_schema_that_refers_to_a_url_is_never_fetched(lab):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from extensions_core.services.executions import task_parameters_check

    hits = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    schema = {"type": "object", "properties": {"x": {"$ref": f"http://127.0.0.1:{server.server_port}/s.json"}}}
    task = definition("succeed")
    TaskDefinition.objects.filter(pk=task.pk).update(parameters_schema=schema)  # as a row written before the rule
    task.refresh_from_db()
    try:
        with pytest.raises(TaskInputError) as caught:
            task_parameters_check(task, {"x": 1})
    finally:
        server.shutdown()

    assert hits == []
    assert "outside itself" in caught.value.message
