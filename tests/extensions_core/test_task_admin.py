"""Background tasks in Django admin: run now, executions with cancel, triggers, events, beat rows writing back."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from extensions_core.executions.outcome import Outcome
from extensions_core.models import EventTrigger, TaskDefinition, TaskExecution
from extensions_core.services import extension_load
from extensions_core.services.executions import execution_claim, execution_finish, execution_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, admin_user, shipped):
    extension_load(name="background-task-extension")
    client.force_login(admin_user)
    return client


def test_run_now_starts_an_execution_and_links_it(operator):
    task = TaskDefinition.objects.get(name="hourly_cleanup")
    response = operator.post(
        "/admin/extensions_core/taskdefinition/", {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )

    execution = TaskExecution.objects.get()
    assert execution.trigger_type == "manual" and "(admin)" in execution.triggered_by
    assert f"/admin/extensions_core/taskexecution/{execution.pk}/change/" in response.content.decode()


def test_an_execution_page_shows_result_log_and_cancels(operator):
    task = TaskDefinition.objects.select_related("extension").get(name="manual_task")
    done = execution_start(definition=task, trigger_type="manual", parameters={"delay": 0})
    claimed = execution_claim(execution_id=str(done.pk), worker="w:1")
    execution_finish(
        execution=claimed,
        outcome=Outcome(
            status="failed",
            failure_reason="exception",
            error="ValueError: x",
            traceback="Traceback ...",
            log=[["2026-01-01T00:00:00", "INFO", "hello log"]],
        ),
    )
    pending = execution_start(definition=task, trigger_type="manual", parameters={"delay": 0})

    page = operator.get(f"/admin/extensions_core/taskexecution/{done.pk}/change/").content.decode()
    pending_page = operator.get(f"/admin/extensions_core/taskexecution/{pending.pk}/change/").content.decode()
    listing = operator.get("/admin/extensions_core/taskexecution/?status__exact=failed").content.decode()
    operator.post(f"/admin/extensions_core/taskexecution/{pending.pk}/change/", {"_cancel_execution": "1"})
    pending.refresh_from_db()

    assert "ValueError: x" in page and "hello log" in page and "Traceback ..." in page
    assert "Cancel this execution" not in page and "Cancel this execution" in pending_page
    assert pending.status == "cancelled" and "(admin)" in pending.error
    assert str(done.pk) in listing and str(pending.pk) not in listing


def test_triggers_are_added_in_admin_and_bad_filters_refused(operator):
    task = TaskDefinition.objects.get(name="manual_task")
    good = operator.post(
        "/admin/extensions_core/eventtrigger/add/",
        {
            "definition": task.pk,
            "event_type": "order.created",
            "filter_conditions": '{"total": {"$gt": 5}}',
            "is_enabled": "on",
        },
    )
    bad = operator.post(
        "/admin/extensions_core/eventtrigger/add/",
        {"definition": task.pk, "event_type": "order.created", "filter_conditions": '{"total": {"$gt": [1]}}'},
    )

    assert good.status_code == 302
    trigger = EventTrigger.objects.get(event_type="order.created")
    assert trigger.source == "admin" and trigger.filter_conditions == {"total": {"$gt": 5}}
    assert bad.status_code == 200 and EventTrigger.objects.filter(event_type="order.created").count() == 1


def test_a_bad_cron_typed_in_admin_is_refused_on_the_form(operator):
    task = TaskDefinition.objects.get(name="hourly_cleanup")
    response = operator.post(
        f"/admin/extensions_core/taskdefinition/{task.pk}/change/",
        {
            "is_enabled": "on",
            "schedule": "99 * * * *",
            "timezone": "UTC",
            "max_retries": "0",
            "retry_backoff_seconds": "0",
            "is_isolated": "on",
            "misfire_policy": "run_once",
            "timeout_seconds": "120",
        },
    )

    assert response.status_code == 200 and "minute" in response.content.decode()
    task.refresh_from_db()
    assert task.schedule == "0 * * * *"


def test_editing_the_beat_row_writes_back_to_the_definition(operator):
    row = PeriodicTask.objects.get(name="karen:background-task-extension/hourly_cleanup")
    page = operator.get(f"/admin/django_celery_beat/periodictask/{row.pk}/change/")
    form = page.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and not isinstance(value, list)}
    data.update(
        name=row.name,
        regtask=row.task,
        task=row.task,
        crontab="",
        interval="",
        enabled="",
        kwargs=row.kwargs,
        args="[]",
        headers="{}",
        expire_seconds="",
        priority="",
        queue="",
        exchange="",
        routing_key="",
        description=row.description,
        solar="",
        clocked="",
        start_time_0="",
        start_time_1="",
        expires_0="",
        expires_1="",
        last_run_at_0="",
        last_run_at_1="",
        one_off="",
    )
    from django_celery_beat.models import IntervalSchedule

    every_ten, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    data.update(interval=every_ten.pk, enabled="on")
    response = operator.post(f"/admin/django_celery_beat/periodictask/{row.pk}/change/", data)

    task = TaskDefinition.objects.get(name="hourly_cleanup")
    row.refresh_from_db()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert task.interval_seconds == 600 and task.schedule == "" and "interval_seconds" in task.overridden_fields
    assert row.interval.every == 600 and row.crontab is None and row.enabled
