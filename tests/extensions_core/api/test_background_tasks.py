"""Background-task API behaviour beyond access: bodies, validation, filters, cursor pages, emit, triggers, stats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from extensions_core.executions.outcome import Outcome
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.services.executions import execution_claim, execution_finish, execution_start
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

TASKS = "/api/extensions/background-tasks"


@pytest.fixture
def admin(platform):
    return token_client(make_user("superuser", None))


def manual_task() -> TaskDefinition:
    return TaskDefinition.objects.select_related("extension").get(name="manual_task")


def test_execute_answers_202_with_the_pending_execution(admin):
    response = admin.post(
        f"{TASKS}/background-task-extension/manual_task/execute",
        {"parameters": {"message": "hi", "delay": 0}},
        format="json",
    )

    body = response.json()
    assert response.status_code == 202
    assert body["status"] == "pending" and body["trigger_type"] == "manual"
    assert body["task_name"] == "manual_task" and body["extension_name"] == "background-task-extension"
    assert body["parameters"] == {"message": "hi", "delay": 0}
    assert TaskExecution.objects.get(pk=body["execution_id"]).triggered_by.startswith("user superuser-")


def test_execute_refuses_bad_parameters_with_each_problem(admin):
    response = admin.post(
        f"{TASKS}/background-task-extension/manual_task/execute",
        {"parameters": {"delay": 99, "colour": "red"}},
        format="json",
    )

    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid_parameters"
    assert {problem["field"] for problem in body["problems"]} == {"parameters", "parameters.delay"}
    assert not TaskExecution.objects.exists()


def test_execute_of_an_unloaded_extension_is_a_conflict(admin):
    from extensions_core.services import extension_unload

    extension_unload(name="background-task-extension")
    response = admin.post(f"{TASKS}/background-task-extension/manual_task/execute", {}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "extension_not_active"


def finished(status: str, **values) -> TaskExecution:
    execution = execution_start(definition=manual_task(), trigger_type="manual", parameters={"delay": 0})
    claimed = execution_claim(execution_id=str(execution.pk), worker="w:1")
    execution_finish(execution=claimed, outcome=Outcome(status=status, **values))
    claimed.refresh_from_db()
    return claimed


def test_executions_filter_and_page_by_cursor_newest_first(admin):
    rows = [finished("completed", result=index) for index in range(5)]
    failed = finished("failed", failure_reason="exception", error="E")
    TaskExecution.objects.filter(pk=rows[0].pk).update(queued_at=timezone.now() - timedelta(days=3))

    first = admin.get(f"{TASKS}/executions?page_size=2").json()
    second = admin.get(first["next"]).json()
    failures = admin.get(f"{TASKS}/executions?status=failed").json()["results"]
    recent = admin.get(f"{TASKS}/executions", {"since": (timezone.now() - timedelta(days=1)).isoformat()}).json()
    detail = admin.get(f"{TASKS}/executions/{failed.pk}").json()

    assert [item["execution_id"] for item in first["results"]] == [str(failed.pk), str(rows[4].pk)]
    assert [item["execution_id"] for item in second["results"]] == [str(rows[3].pk), str(rows[2].pk)]
    assert [item["execution_id"] for item in failures] == [str(failed.pk)]
    assert str(rows[0].pk) not in {item["execution_id"] for item in recent["results"]}
    assert detail["error"] == "E" and detail["failure_reason"] == "exception" and "log" in detail
    assert admin.get(f"{TASKS}/executions?status=bogus").status_code == 400


def test_active_lists_pending_and_running_and_cancel_stops_them(admin):
    pending = execution_start(definition=manual_task(), trigger_type="manual", parameters={"delay": 0})
    done = finished("completed", result=1)

    active = admin.get(f"{TASKS}/executions/active").json()["results"]
    cancelled = admin.post(f"{TASKS}/executions/{pending.pk}/cancel")
    again = admin.post(f"{TASKS}/executions/{done.pk}/cancel")

    assert [item["execution_id"] for item in active] == [str(pending.pk)]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and again.json()["code"] == "execution_finished"


def test_emit_answers_202_with_the_event_and_the_executions_it_started(admin):
    trigger = admin.post(
        f"{TASKS}/events/triggers",
        {
            "event_type": "order.created",
            "extension_name": "background-task-extension",
            "task_name": "manual_task",
            "filter_conditions": {"total": {"$gt": 10}},
        },
        format="json",
    )
    emitted = admin.post(
        f"{TASKS}/events/emit", {"event_type": "order.created", "event_data": {"total": 11}}, format="json"
    )
    ignored = admin.post(
        f"{TASKS}/events/emit", {"event_type": "order.created", "event_data": {"total": 1}}, format="json"
    )
    history = admin.get(f"{TASKS}/events").json()["results"]

    assert trigger.status_code == 201 and trigger.json()["source"] == "api"
    body = emitted.json()
    assert emitted.status_code == 202
    assert body["triggered_tasks"][0]["task_name"] == "manual_task"
    assert body["executions"][0]["trigger_type"] == "event"
    assert ignored.json()["triggered_tasks"] == [] and ignored.json()["executions"] == []
    assert [item["event_data"] for item in history][:2] == [{"total": 1}, {"total": 11}]


def test_triggers_are_changed_and_deleted_and_bad_filters_refused(admin):
    created = admin.post(
        f"{TASKS}/events/triggers",
        {"event_type": "a.b", "extension_name": "background-task-extension", "task_name": "manual_task"},
        format="json",
    ).json()
    url = f"{TASKS}/events/triggers/{created['id']}"

    patched = admin.patch(url, {"filter_conditions": {"level": {"$in": [1, 2]}}, "enabled": False}, format="json")
    bad = admin.patch(url, {"filter_conditions": {"level": {"$near": 1}}}, format="json")
    listed = admin.get(f"{TASKS}/events/triggers?event_type=a.b").json()
    deleted = admin.delete(url)

    assert patched.json()["filter_conditions"] == {"level": {"$in": [1, 2]}} and patched.json()["enabled"] is False
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_filter"
    assert [item["id"] for item in listed] == [created["id"]]
    assert deleted.status_code == 204 and admin.get(url).status_code == 404


def test_stats_count_by_status_with_success_rate_and_percentiles(admin):
    for seconds in (1, 2, 3, 4):
        row = finished("completed", result=1)
        TaskExecution.objects.filter(pk=row.pk).update(duration_seconds=seconds)
    finished("failed", failure_reason="exception", error="E")

    stats = admin.get(f"{TASKS}/stats").json()

    assert stats["by_status"]["completed"] == 4 and stats["by_status"]["failed"] == 1
    assert stats["success_rate"] == 0.8
    assert stats["duration_seconds"]["p50"] == pytest.approx(2.5, abs=1.5)
    assert stats["by_extension"]["background-task-extension"]["total"] == 5


def test_health_reports_workers_beat_queue_and_stuck_runs(admin):
    execution = execution_start(definition=manual_task(), trigger_type="manual", parameters={"delay": 0})
    execution_claim(execution_id=str(execution.pk), worker="gone:1")
    TaskExecution.objects.filter(pk=execution.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    health = admin.get(f"{TASKS}/health").json()

    assert health["status"] == "degraded"
    assert health["workers"]["status"] == "down"
    assert health["executions"]["stuck_running"] == 1
    assert health["queue"]["messages"] is not None or health["queue"]["detail"]


def test_lists_show_only_the_executions_of_visible_tasks(platform):
    from extensions_core.models import Extension

    finished("completed", result=1)
    outsider = token_client(make_user("task_viewer", Extension.objects.get(name="hello-extension")))
    insider = token_client(make_user("task_viewer", Extension.objects.get(name="background-task-extension")))

    assert outsider.get(f"{TASKS}/executions").json()["results"] == []
    assert len(insider.get(f"{TASKS}/executions").json()["results"]) == 1
    assert outsider.get(f"{TASKS}/stats").json()["total"] == 0


def test_json_with_a_nul_character_is_refused_naming_the_field(admin):
    emitted = admin.post(f"{TASKS}/events/emit", {"event_type": "a.b", "event_data": {"x": ["a\x00b"]}}, format="json")
    executed = admin.post(
        f"{TASKS}/background-task-extension/manual_task/execute", {"parameters": {"message": "\x00"}}, format="json"
    )

    assert emitted.status_code == 400 and emitted.json()["problems"][0]["field"] == "event_data.x[0]"
    assert executed.status_code == 400 and executed.json()["problems"][0]["field"] == "parameters.message"


def test_an_idle_healthy_platform_with_an_empty_queue_is_ok(admin):
    from django.conf import settings as django_settings
    from django.utils import timezone

    from extensions_core.services.heartbeats import process_heartbeat
    from extensions_core.services.leases import BEAT_LEASE, lease_acquire

    now = timezone.now()
    process_heartbeat(role="worker", hostname="host", pid=1, started_at=now)
    process_heartbeat(role="beat", hostname="host", pid=2, started_at=now)
    lease_acquire(name=BEAT_LEASE, holder="host:2", ttl_seconds=30)
    on_redis = django_settings.CELERY_BROKER_URL.startswith("redis")
    if on_redis:
        import redis

        redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete("celery")  # Redis drops an emptied list

    health = admin.get(f"{TASKS}/health").json()

    assert (health["status"], health["problems"]) == ("ok", []), health
    assert health["queue"]["messages"] == 0 if on_redis else isinstance(health["queue"]["messages"], int)
