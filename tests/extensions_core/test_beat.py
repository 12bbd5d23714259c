"""Beat: one leader at a time, each due time of a task schedule fired once, misfire policies (in-process scheduler)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from extensions_core.beat import PlatformScheduler
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.services import extension_load, task_definition_override
from extensions_core.services.firing import fire_key, schedule_fire
from extensions_core.services.leases import BEAT_LEASE, lease_acquire, lease_holder, lease_release
from karen.celery import app

# The DatabaseScheduler closes connections between reads: the tests cannot run inside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

HEALTH = "karen:background-task-extension/system_health_check"  # */5 * * * *
NOW = datetime(2026, 12, 1, 10, 2, 30, tzinfo=UTC)


@pytest.fixture
def scheduled(shipped):
    extension_load(name="background-task-extension")
    return PeriodicTask.objects.get(name=HEALTH)


def scheduler() -> PlatformScheduler:
    return PlatformScheduler(app=app, max_interval=1)


def fire_at(beat: PlatformScheduler, now: datetime) -> None:
    with mock.patch("extensions_core.beat.timezone.now", return_value=now):  # the clock is the boundary here
        beat._fire_schedules()


def scheduled_runs() -> list[TaskExecution]:
    return list(TaskExecution.objects.filter(task_name="system_health_check", trigger_type="schedule"))


def test_the_first_candidate_leads_others_stand_by_and_take_over_when_it_expires_or_leaves():
    first = lease_acquire(name=BEAT_LEASE, holder="a:1", ttl_seconds=10)
    second = lease_acquire(name=BEAT_LEASE, holder="b:2", ttl_seconds=10)
    renewed = lease_acquire(name=BEAT_LEASE, holder="a:1", ttl_seconds=10)
    lease_release(name=BEAT_LEASE, holder="a:1")
    after_release = lease_acquire(name=BEAT_LEASE, holder="b:2", ttl_seconds=0.01)
    expired_holder = lease_holder(BEAT_LEASE)
    import time

    time.sleep(0.05)
    after_expiry = lease_acquire(name=BEAT_LEASE, holder="a:1", ttl_seconds=10)

    assert (first, second, renewed, after_release) == (True, False, True, True)
    assert expired_holder is None or expired_holder.holder == "b:2"
    assert after_expiry is True and lease_holder(BEAT_LEASE).holder == "a:1"


def test_a_schedule_fired_by_one_beat_is_not_fired_again_by_another(scheduled):
    due = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    PeriodicTask.objects.filter(pk=scheduled.pk).update(last_run_at=due - timedelta(minutes=5))
    previous = PeriodicTask.objects.get(pk=scheduled.pk).last_run_at
    arguments = dict(
        periodic_task_id=scheduled.pk,
        schedule_name=HEALTH,
        extension_name="background-task-extension",
        task_name="system_health_check",
        previous=previous,
        fired_up_to=due,
        due_times=[due],
        described="*/5 * * * *",
    )

    first = schedule_fire(**arguments)
    second = schedule_fire(**arguments)
    PeriodicTask.objects.filter(pk=scheduled.pk).update(last_run_at=previous)  # a stale write puts it back
    third = schedule_fire(**arguments)

    assert first.started == (fire_key(HEALTH, due),)
    assert second is None
    assert third.started == () and "already started" in third.not_started[0]
    assert [run.pk for run in scheduled_runs()] == [fire_key(HEALTH, due)]


def test_a_schedule_that_never_fired_counts_due_times_from_now(scheduled):
    beat = scheduler()

    fire_at(beat, NOW)
    fire_at(beat, NOW + timedelta(minutes=2))
    fire_at(beat, NOW + timedelta(minutes=3))

    assert [run.pk for run in scheduled_runs()] == [fire_key(HEALTH, datetime(2026, 12, 1, 10, 5, tzinfo=UTC))]
    assert PeriodicTask.objects.get(pk=scheduled.pk).last_run_at == datetime(2026, 12, 1, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("run_once", ["10:00"]),
        ("skip", []),
        (
            "run_all",
            [
                "09:05",
                "09:10",
                "09:15",
                "09:20",
                "09:25",
                "09:30",
                "09:35",
                "09:40",
                "09:45",
                "09:50",
                "09:55",
                "10:00",
            ],
        ),
    ],
)
def test_due_times_missed_while_no_beat_ran_follow_the_misfire_policy(scheduled, policy, expected):
    task_definition_override(
        definition=TaskDefinition.objects.get(name="system_health_check"), changes={"misfire_policy": policy}
    )
    PeriodicTask.objects.filter(pk=scheduled.pk).update(last_run_at=NOW - timedelta(hours=1))
    beat = scheduler()

    fire_at(beat, NOW)
    fire_at(beat, NOW + timedelta(seconds=20))

    due_times = sorted(run.triggered_by.rsplit("due ", 1)[1][11:16] for run in scheduled_runs())
    assert due_times == expected
    assert PeriodicTask.objects.get(pk=scheduled.pk).last_run_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_misfire_policy_is_shown_by_the_task_definition_api(scheduled, admin_client):
    task_definition_override(
        definition=TaskDefinition.objects.get(name="system_health_check"), changes={"misfire_policy": "skip"}
    )

    body = admin_client.get("/api/extensions/background-tasks/background-task-extension/system_health_check").json()

    assert body["misfire_policy"] == "skip"


def test_a_standby_beat_fires_nothing(scheduled):
    leader, standby = scheduler(), scheduler()
    leader.holder, standby.holder = "leader:1", "standby:2"
    PeriodicTask.objects.filter(pk=scheduled.pk).update(last_run_at=timezone.now() - timedelta(minutes=10))

    leads = [leader._lead(), standby._lead()]
    wait = standby.tick()

    assert leads == [True, False]
    assert wait > 0 and scheduled_runs() == []
