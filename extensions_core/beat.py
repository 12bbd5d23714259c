"""The beat process: one leader fires the schedules, any others stand by; all of them say they are alive and reap.

Run as many beats as availability needs. The one holding the beat lease fires;
a standby takes the lease within LEASE_TTL_SECONDS + STANDBY_POLL_SECONDS of the
leader's death. Task definitions' schedules ("karen:" beat rows) are fired here
at due times fixed by the schedule (`due_times`), each exactly once
(`services.firing`), with the definition's misfire policy for due times missed
while no beat ran. Other beat rows an operator adds run through
django-celery-beat's own DatabaseScheduler, on the leader only. A database
outage never stops beat: it logs, waits and tries again on a new connection.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from extensions_core.conf import HEARTBEAT_SECONDS
from extensions_core.database import CONNECTION_ERRORS, connection_close, connection_refresh
from extensions_core.due_times import MAX_MISSED_RUNS, Schedule, due_times_to_run, pending_due_times
from extensions_core.models import TaskDefinition
from extensions_core.schedules import PERIODIC_TASK_PREFIX
from extensions_core.services.firing import schedule_baseline, schedule_fire
from extensions_core.services.leases import BEAT_LEASE, lease_acquire, lease_release
from extensions_core.workers import Heartbeat

logger = logging.getLogger(__name__)

# The leader renews its lease this often; a lease not renewed for LEASE_TTL_SECONDS is free to take.
LEASE_RENEW_SECONDS = 2.0
LEASE_TTL_SECONDS = 10.0
# A standby asks for the lease this often.
STANDBY_POLL_SECONDS = 2.0
# The leader re-reads the schedules this often even when nothing announced a change (misfire policies).
RELOAD_SECONDS = 10.0
MAX_OUTAGE_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One task definition's beat row as the leader keeps it between reads."""

    pk: int
    name: str
    extension: str
    task: str
    schedule: Schedule
    policy: str
    last_due: datetime | None


def _entry(row: PeriodicTask, policies: dict[tuple[str, str], str]) -> ScheduleEntry | None:
    try:
        arguments = json.loads(row.kwargs or "{}")
        extension, task = arguments["extension"], arguments["task"]
    except (ValueError, KeyError, TypeError):
        logger.error("Beat row %s has no extension/task kwargs; it is not fired", row.name)
        return None
    if row.crontab_id:
        cron = row.crontab
        schedule = Schedule(
            cron=" ".join([cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week]),
            timezone=str(cron.timezone),
        )
    elif row.interval_id:
        seconds = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}
        every = max(1, int(row.interval.every * seconds[row.interval.period]))
        schedule = Schedule(interval_seconds=every)
    else:
        logger.error("Beat row %s has neither a crontab nor an interval; it is not fired", row.name)
        return None
    return ScheduleEntry(
        pk=row.pk,
        name=row.name,
        extension=extension,
        task=task,
        schedule=schedule,
        policy=policies.get((extension, task), TaskDefinition.MisfirePolicy.RUN_ONCE),
        last_due=row.last_run_at,
    )


class PlatformScheduler(DatabaseScheduler):
    """DatabaseScheduler with a leader lease, exactly-once fires of task schedules, and a heartbeat."""

    def setup_schedule(self) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.is_leader = False
        self._lease_renewed = float("-inf")
        self._entries: dict[int, ScheduleEntry] = {}
        self._entries_read = float("-inf")
        self._entries_marker = None
        self._heartbeat = Heartbeat("beat")
        self._last_beat = float("-inf")
        self._outage_wait = 0.0
        try:
            super().setup_schedule()
        except CONNECTION_ERRORS as error:
            # Started while the database is down: the first tick that reaches it reads the schedule.
            logger.warning("Beat started without the database (%s); it reads the schedule when it can", error)
            connection_close()
            self._initial_read = True

    def all_as_schedule(self):
        # Task definitions' rows are fired by this class itself (exactly once, with misfire policies).
        schedule = super().all_as_schedule()
        return {name: entry for name, entry in schedule.items() if not name.startswith(PERIODIC_TASK_PREFIX)}

    def reserve(self, entry):
        # Record an operator's row's run at once, not every few minutes: a standby taking over reads it.
        new_entry = super().reserve(entry)
        model = new_entry.model
        PeriodicTask.objects.filter(pk=model.pk).update(
            last_run_at=model.last_run_at, total_run_count=model.total_run_count
        )
        self._dirty.discard(new_entry.name)
        return new_entry

    def tick(self, *args, **kwargs):
        try:
            self._beat_when_due()
            connection_refresh()
            if not self._lead():
                return STANDBY_POLL_SECONDS
            wait = min(self._fire_schedules(), super().tick(*args, **kwargs), LEASE_RENEW_SECONDS)
        except CONNECTION_ERRORS as error:
            self._outage_wait = min(max(self._outage_wait * 2, 0.5), MAX_OUTAGE_WAIT_SECONDS)
            logger.warning("Beat cannot reach the database (%s); trying again in %g s", error, self._outage_wait)
            connection_close()
            self._lease_renewed = float("-inf")  # it may have expired meanwhile: ask again before firing
            return self._outage_wait
        self._outage_wait = 0.0
        return max(wait, 0.0)

    def close(self) -> None:
        self._heartbeat.stop()
        if self.is_leader:
            try:
                lease_release(name=BEAT_LEASE, holder=self.holder)
            except CONNECTION_ERRORS as error:
                logger.warning("Could not release the beat lease (%s); it expires by itself", error)
        super().close()

    # --- liveness and leadership --------------------------------------------------------------------

    def _beat_when_due(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self._heartbeat.beat_and_reap()

    def _lead(self) -> bool:
        now = time.monotonic()
        if self.is_leader and now - self._lease_renewed < LEASE_RENEW_SECONDS:
            return True
        leads = lease_acquire(name=BEAT_LEASE, holder=self.holder, ttl_seconds=LEASE_TTL_SECONDS)
        if leads:
            self._lease_renewed = now
        if leads and not self.is_leader:
            logger.warning("Beat %s holds the beat lease: it fires the schedules", self.holder)
            self._entries_read = float("-inf")
            self._initial_read = True  # the standby's view of operator rows is stale: read them again
            self._heap = None
        elif self.is_leader and not leads:
            logger.warning("Beat %s lost the beat lease: standing by", self.holder)
        self.is_leader = leads
        return leads

    # --- task definitions' schedules ------------------------------------------------------------------

    def _read_entries_when_changed(self) -> None:
        now = time.monotonic()
        marker = PeriodicTasks.last_change()
        if marker == self._entries_marker and now - self._entries_read < RELOAD_SECONDS:
            return
        policies = {
            (extension, name): policy
            for extension, name, policy in TaskDefinition.objects.values_list(
                "extension__name", "name", "misfire_policy"
            )
        }
        rows = PeriodicTask.objects.filter(name__startswith=PERIODIC_TASK_PREFIX, enabled=True).select_related(
            "crontab", "interval"
        )
        entries = (_entry(row, policies) for row in rows)
        self._entries = {entry.pk: entry for entry in entries if entry is not None}
        self._entries_marker, self._entries_read = marker, now

    def _fire_schedules(self) -> float:
        """Fire what is due; return the seconds until the next due time."""
        self._read_entries_when_changed()
        now = timezone.now()
        wait = LEASE_RENEW_SECONDS
        for entry in list(self._entries.values()):
            try:
                entry = self._fire_one(entry, now)
            except CONNECTION_ERRORS:
                raise
            except Exception:  # noqa: BLE001 - one broken schedule never stops the others
                logger.exception("Schedule %s could not be fired", entry.name)
                continue
            if entry is not None:
                upcoming = entry.schedule.next_after(max(entry.last_due or now, now))
                wait = min(wait, (upcoming - now).total_seconds())
        return wait

    def _fire_one(self, entry: ScheduleEntry, now: datetime) -> ScheduleEntry | None:
        if entry.last_due is None:
            # Never fired (or just enabled): due times count from now on, the same for every beat.
            if not schedule_baseline(periodic_task_id=entry.pk, at=now):
                self._entries_read = float("-inf")
                return None
            self._entries[entry.pk] = entry = replace(entry, last_due=now)
            return entry
        pending, left_out = pending_due_times(entry.schedule, entry.last_due, now, MAX_MISSED_RUNS)
        if not pending:
            return entry
        to_run = due_times_to_run(entry.policy, pending, now)
        result = schedule_fire(
            periodic_task_id=entry.pk,
            schedule_name=entry.name,
            extension_name=entry.extension,
            task_name=entry.task,
            previous=entry.last_due,
            fired_up_to=pending[-1],
            due_times=to_run,
            described=entry.schedule.describe(),
        )
        if result is None:  # another beat fired it, or an operator changed it: read it again
            self._entries_read = float("-inf")
            return None
        if len(pending) + left_out > 1 or len(to_run) < len(pending):
            logger.warning(
                "Schedule %s: %d due time(s) passed while no beat fired it; misfire policy %s started %d run(s)",
                entry.name,
                len(pending) + left_out,
                entry.policy,
                len(result.started),
            )
        self._entries[entry.pk] = entry = replace(entry, last_due=pending[-1])
        return entry
