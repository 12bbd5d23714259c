"""Executions run by a real Celery worker on the configured broker (Redis, or the embedded filesystem transport)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from extensions_core.models import Event, TaskDefinition, TaskExecution
from extensions_core.services import extension_discover
from extensions_core.services.events import event_emit, trigger_create
from extensions_core.services.executions import execution_cancel, execution_start
from extensions_core.services.reaping import executions_reap
from tests.conftest import install_fixture
from tests.processes import start_beat, start_worker, stop_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Status = TaskExecution.Status


@pytest.fixture
def lab(extensions_root):
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    return extensions_root


@pytest.fixture
def worker(lab):
    process = start_worker(concurrency=2)
    yield process
    stop_process(process)


def start(task: str, **parameters) -> TaskExecution:
    definition = TaskDefinition.objects.select_related("extension").get(extension__name="task-lab", name=task)
    return execution_start(definition=definition, trigger_type="manual", parameters=parameters, triggered_by="test")


def wait_until_finished(execution: TaskExecution, timeout: float = 60) -> TaskExecution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution.refresh_from_db()
        if execution.is_finished:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"{execution} still {execution.status} after {timeout} s")


def wait_until_running(execution: TaskExecution, timeout: float = 60) -> TaskExecution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution.refresh_from_db()
        if execution.status != Status.PENDING:
            return execution
        time.sleep(0.02)
    raise AssertionError(f"{execution} never started")


def test_success_records_result_log_resources_and_a_forked_process(worker):
    execution = wait_until_finished(start("succeed", value=21))
    isolated = wait_until_finished(start("isolated"))
    in_process = wait_until_finished(start("in_process"))

    assert execution.status == Status.COMPLETED, execution.error
    assert execution.result == {"double": 42, "execution_id": str(execution.id), "attempt": 1}
    messages = [line[2] for line in execution.log]
    assert "karen.tasks.task-lab.succeed: doubling 21" in messages
    assert "printed line" in messages
    assert execution.cpu_seconds is not None and 0 <= execution.cpu_seconds < 5
    assert execution.peak_memory_bytes > 10 * 2**20
    assert execution.started_at >= execution.queued_at and execution.duration_seconds >= 0
    # Isolated runs happen in a child of the worker process; in-process runs in the worker process itself.
    assert isolated.result["parent"] == int(in_process.worker.rsplit(":", 1)[1]) or isolated.result["parent"] != 0
    assert isolated.result["pid"] != int(isolated.worker.rsplit(":", 1)[1])
    assert in_process.result["pid"] == int(in_process.worker.rsplit(":", 1)[1])


def test_an_exception_fails_with_its_traceback_and_log(worker):
    execution = wait_until_finished(start("fail"))

    assert execution.status == Status.FAILED
    assert execution.failure_reason == "exception"
    assert execution.error == "ValueError: boom"
    assert 'raise ValueError("boom")' in execution.traceback
    assert [line[1:] for line in execution.log] == [["WARNING", "karen.tasks.task-lab.fail: about to fail"]]


def test_soft_timeout_then_hard_kill_and_the_worker_goes_on(worker):
    soft = start("hang")
    hard = start("stubborn")
    soft, hard = wait_until_finished(soft), wait_until_finished(hard)
    after = wait_until_finished(start("succeed"))

    assert (soft.status, soft.failure_reason) == (Status.FAILED, "timeout")
    assert "TaskTimeoutError" in soft.traceback
    assert soft.duration_seconds < 3
    assert (hard.status, hard.failure_reason) == (Status.FAILED, "timeout")
    assert "killed" in hard.error
    assert 3 < hard.duration_seconds < 10
    assert any("ignoring the timeout" in line[2] for line in hard.log)
    assert after.status == Status.COMPLETED


def test_memory_limit_and_crash_kill_only_the_run(worker):
    hog = wait_until_finished(start("hog"))
    crash = wait_until_finished(start("crash"))
    after = wait_until_finished(start("succeed"))

    assert (hog.status, hog.failure_reason) == (Status.FAILED, "memory_limit"), hog.error
    assert (crash.status, crash.failure_reason) == (Status.FAILED, "crashed")
    assert "SIGSEGV" in crash.error
    assert after.status == Status.COMPLETED


def test_cancel_pending_and_running(lab):
    pending = start("succeed")
    execution_cancel(execution=pending, by="test")
    process = start_worker(concurrency=2)
    try:
        polite = wait_until_running(start("nap", seconds=60))
        stubborn = wait_until_running(start("hang"))
        # hang has a 1 s timeout; cancel it before that.
        execution_cancel(execution=polite, by="test")
        execution_cancel(execution=stubborn, by="test")
        began = time.monotonic()
        polite, stubborn = wait_until_finished(polite), wait_until_finished(stubborn)
        stopped_within = time.monotonic() - began
        pending.refresh_from_db()
    finally:
        stop_process(process)

    assert pending.status == Status.CANCELLED and pending.started_at is None
    # It noticed and returned early; what a cancelled run returns is not a result, so none is kept.
    assert polite.status == Status.CANCELLED and polite.result is None
    assert stubborn.status in (Status.CANCELLED, Status.FAILED)
    assert stopped_within < 6


def test_retries_with_backoff_keep_each_attempts_error(worker):
    first = start("flaky")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        attempts = list(TaskExecution.objects.filter(task_name="flaky").order_by("attempt"))
        if attempts[-1].status == Status.COMPLETED:
            break
        time.sleep(0.1)

    assert [(row.attempt, row.status, row.trigger_type) for row in attempts] == [
        (1, "failed", "manual"),
        (2, "failed", "retry"),
        (3, "completed", "retry"),
    ]
    assert attempts[0].id == first.id and attempts[1].retry_of_id == first.id
    assert attempts[1].error == "RuntimeError: attempt 2 fails"
    # Backoff 0.5 s, doubled per attempt.
    assert (attempts[1].started_at - attempts[0].finished_at).total_seconds() >= 0.45
    assert (attempts[2].started_at - attempts[1].finished_at).total_seconds() >= 0.95


def test_dependencies_run_first_and_a_failed_one_fails_the_dependent(worker):
    final = wait_until_finished(start("final"))
    doomed = wait_until_finished(start("after_failure"))

    steps = {row.task_name: row for row in TaskExecution.objects.filter(parent=final)}
    assert final.status == Status.COMPLETED
    assert set(steps) == {"step_a", "step_b"}
    assert all(step.status == Status.COMPLETED and step.trigger_type == "dependency" for step in steps.values())
    assert final.result > max(step.result for step in steps.values())
    assert (doomed.status, doomed.failure_reason) == (Status.FAILED, "dependency_failed")
    assert 'dependency "fail" failed' in doomed.error


def test_in_process_hard_timeout_kills_the_pool_process_and_records_it(worker):
    execution = wait_until_finished(start("in_process_hang"))
    after = wait_until_finished(start("succeed"))

    assert (execution.status, execution.failure_reason) == (Status.FAILED, "timeout")
    assert after.status == Status.COMPLETED


def test_events_start_matching_triggers_and_the_loop_guard_stops_chains(worker):
    quiet = event_emit(event_type="lab.ping", event_data={"level": 1}, source="api")
    loud = event_emit(event_type="lab.ping", event_data={"level": 5}, source="api")
    started = TaskExecution.objects.get(event=loud)
    started = wait_until_finished(started)
    event_emit(event_type="lab.loop", event_data={}, source="api")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Event.objects.exclude(suppressed="").exists():
        time.sleep(0.1)

    assert quiet.triggered_tasks == []
    assert loud.triggered_tasks[0]["task_name"] == "on_ping"
    assert started.result["event"]["event_data"] == {"level": 5}
    assert started.trigger_type == "event"
    suppressed = Event.objects.exclude(suppressed="").get()
    assert suppressed.event_type == "lab.loop" and suppressed.depth > 8
    assert "trigger loop" in suppressed.suppressed


def test_task_completed_and_failed_events_fire_triggers(worker):
    definition = TaskDefinition.objects.get(extension__name="task-lab", name="on_ping")
    trigger_create(definition=definition, event_type="task.failed", filter_conditions={"task_name": "fail"})
    wait_until_finished(start("fail"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not TaskExecution.objects.filter(task_name="on_ping").exists():
        time.sleep(0.1)
    handler = wait_until_finished(TaskExecution.objects.get(task_name="on_ping"))

    assert handler.result["event"]["event_type"] == "task.failed"
    assert handler.result["event"]["event_data"]["error"] == "ValueError: boom"


def test_sigkill_of_the_worker_leaves_every_execution_terminal(lab):
    process = start_worker(concurrency=2)
    executions = [start("nap", seconds=3) for _ in range(6)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not TaskExecution.objects.filter(status=Status.RUNNING).count() >= 2:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    replacement = start_worker(concurrency=2)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            executions_reap()
            if not TaskExecution.objects.filter(status__in=TaskExecution.ACTIVE_STATUSES).exists():
                break
            time.sleep(0.5)
    finally:
        stop_process(replacement)
    ended = {row.status for row in TaskExecution.objects.filter(pk__in=[row.pk for row in executions])}
    lost = TaskExecution.objects.filter(failure_reason="worker_lost").count()

    assert ended <= {Status.COMPLETED, Status.FAILED, Status.CANCELLED}
    assert lost >= 1


def scheduled_runs() -> int:
    return TaskExecution.objects.filter(task_name="succeed", trigger_type="schedule").count()


def test_an_admin_edit_of_a_schedule_is_picked_up_by_a_running_beat(worker, client, admin_user):
    beat = start_beat()
    client.force_login(admin_user)
    task = TaskDefinition.objects.get(extension__name="task-lab", name="succeed")
    page = f"/admin/extensions_core/taskdefinition/{task.pk}/change/"
    form = {
        "is_enabled": "on",
        "schedule": "",
        "interval_seconds": "1",
        "timezone": "UTC",
        "timeout_seconds": "30",
        "max_retries": "0",
        "retry_backoff_seconds": "0",
        "is_isolated": "on",
        "misfire_policy": "run_once",
    }
    try:
        time.sleep(2)  # beat is up and has read its (empty) schedule
        assert client.post(page, form).status_code == 302
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and scheduled_runs() < 3:
            time.sleep(0.2)
        running = scheduled_runs()
        assert client.post(page, {**form, "is_enabled": ""}).status_code == 302
        time.sleep(8)  # beat reloads a changed schedule within its sync interval
        settled = scheduled_runs()
        time.sleep(3)
        after = scheduled_runs()
    finally:
        stop_process(beat)

    assert running >= 3
    assert after == settled
    assert TaskExecution.objects.filter(trigger_type="schedule", status=Status.COMPLETED).exists()
