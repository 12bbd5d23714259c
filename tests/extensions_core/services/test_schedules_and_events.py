"""Beat rows follow task definitions; events store, match filters and start triggered tasks; system events."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from extensions_core.exceptions import ExtensionError, TaskInputError
from extensions_core.models import Event, EventTrigger, TaskDefinition, TaskExecution
from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_load,
    extension_reload,
    extension_unload,
    task_definition_override,
)
from extensions_core.services.events import event_emit, trigger_create, trigger_update

pytestmark = pytest.mark.django_db

SCHEDULED = {"hourly_cleanup": "0 * * * *", "daily_report": "0 9 * * *", "system_health_check": "*/5 * * * *"}


def beat_rows() -> dict[str, PeriodicTask]:
    return {row.name.rsplit("/", 1)[1]: row for row in PeriodicTask.objects.filter(name__startswith="karen:")}


def cron_of(row: PeriodicTask) -> str:
    cron = row.crontab
    return " ".join([cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week])


def test_scheduled_tasks_become_beat_rows_that_run_only_while_the_extension_is_active(shipped):
    discovered = beat_rows()
    extension_load(name="background-task-extension")
    loaded = beat_rows()
    extension_reload(name="background-task-extension")
    reloaded = beat_rows()
    extension_unload(name="background-task-extension")
    unloaded = beat_rows()
    extension_load(name="background-task-extension")
    extension_disable(name="background-task-extension")
    disabled = beat_rows()

    assert {name: cron_of(row) for name, row in loaded.items()} == SCHEDULED
    assert all(row.task == "extensions_core.execution_schedule" for row in loaded.values())
    assert loaded["daily_report"].kwargs == '{"extension": "background-task-extension", "task": "daily_report"}'
    assert not any(row.enabled for row in discovered.values())
    assert all(row.enabled for row in loaded.values()) and all(row.enabled for row in reloaded.values())
    assert len(reloaded) == 3 and PeriodicTask.objects.filter(name__startswith="karen:").count() == 3
    assert not any(row.enabled for row in unloaded.values()) and not any(row.enabled for row in disabled.values())


def test_an_operators_schedule_survives_a_manifest_resync_and_a_bad_one_never_reaches_beat(shipped):
    extension_load(name="background-task-extension")
    report = TaskDefinition.objects.get(name="daily_report")
    task_definition_override(definition=report, changes={"schedule": "30 7 * * 1-5", "timezone": "Europe/Paris"})
    health = TaskDefinition.objects.get(name="system_health_check")
    task_definition_override(definition=health, changes={"interval_seconds": 30})
    extension_discover(load_new=False)
    extension_reload(name="background-task-extension")
    with pytest.raises(TaskInputError) as bad:
        task_definition_override(
            definition=TaskDefinition.objects.get(name="hourly_cleanup"), changes={"schedule": "61 * * * *"}
        )
    rows = beat_rows()

    assert cron_of(rows["daily_report"]) == "30 7 * * 1-5"
    assert str(rows["daily_report"].crontab.timezone) == "Europe/Paris"
    assert rows["system_health_check"].crontab is None and rows["system_health_check"].interval.every == 30
    assert TaskDefinition.objects.get(name="system_health_check").schedule == ""
    assert bad.value.code == "manifest_invalid_cron" and "minute" in bad.value.message
    assert cron_of(rows["hourly_cleanup"]) == "0 * * * *"


def test_disabling_a_task_disables_its_beat_row(shipped):
    extension_load(name="background-task-extension")
    task_definition_override(
        definition=TaskDefinition.objects.get(name="hourly_cleanup"), changes={"is_enabled": False}
    )

    assert beat_rows()["hourly_cleanup"].enabled is False
    assert beat_rows()["daily_report"].enabled is True


def test_manifest_triggers_are_trigger_rows(shipped):
    extension_load(name="background-task-extension")
    extension_reload(name="background-task-extension")

    trigger = EventTrigger.objects.get()
    assert (trigger.event_type, trigger.definition.name, trigger.source) == (
        "extension.loaded",
        "handle_extension_loaded_event",
        "manifest",
    )


def test_loading_emits_extension_loaded_which_starts_the_handler(shipped, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        extension_load(name="background-task-extension")
    with django_capture_on_commit_callbacks(execute=True):
        extension_load(name="hello-extension")
        extension_unload(name="hello-extension")

    events = list(Event.objects.order_by("created_at").values_list("event_type", "event_data__extension_name"))
    handled = TaskExecution.objects.filter(task_name="handle_extension_loaded_event").order_by("queued_at")
    assert events == [
        ("extension.loaded", "background-task-extension"),
        ("extension.loaded", "hello-extension"),
        ("extension.unloaded", "hello-extension"),
    ]
    assert [row.event.event_data["extension_name"] for row in handled] == [
        "background-task-extension",
        "hello-extension",
    ]
    assert all(row.trigger_type == "event" for row in handled)


def test_a_failed_load_emits_extension_failed(extensions_root, django_capture_on_commit_callbacks):
    from tests.conftest import write_extension

    write_extension(extensions_root, "broken-one", code="raise RuntimeError('no')\n")
    extension_discover(load_new=False)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ExtensionError):
        extension_load(name="broken-one")

    assert Event.objects.get().event_type == "extension.failed"


def test_emit_matches_filters_and_skips_disabled_triggers(shipped):
    extension_load(name="background-task-extension")
    task = TaskDefinition.objects.get(name="manual_task")
    trigger_create(definition=task, event_type="order.created", filter_conditions={"total": {"$gte": 100}})
    off = trigger_create(definition=task, event_type="order.created")
    trigger_update(trigger=off, changes={"is_enabled": False})

    small = event_emit(event_type="order.created", event_data={"total": 5}, source="api")
    big = event_emit(event_type="order.created", event_data={"total": 500}, source="api")

    assert small.triggered_tasks == []
    assert [entry["task_name"] for entry in big.triggered_tasks] == ["manual_task"]
    assert TaskExecution.objects.get(event=big).trigger_type == "event"


def test_bad_event_names_and_filters_are_refused_with_the_field(shipped):
    extension_load(name="background-task-extension")
    task = TaskDefinition.objects.get(name="manual_task")

    with pytest.raises(TaskInputError) as name:
        event_emit(event_type="Order Created", source="api")
    with pytest.raises(TaskInputError) as conditions:
        trigger_create(definition=task, event_type="a.b", filter_conditions={"x": {"$regex": "y"}})

    assert name.value.problems[0].field == "event_type"
    assert conditions.value.code == "invalid_filter" and "$regex" in conditions.value.message
