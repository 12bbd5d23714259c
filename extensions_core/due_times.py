"""When a schedule is due: the due times of a cron or interval schedule, and which missed ones a misfire policy runs.

Due times are fixed by the schedule alone, never by when a beat happened to
look: a cron's matching minutes in its time zone, an interval's multiples of
its length since the Unix epoch. So every beat process computes the same due
times, and a due time can serve as the key of its one run.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from cron_descriptor import ExpressionDescriptor, Options

# At most this many missed due times are run under the run_all policy (the newest ones).
MAX_MISSED_RUNS = 100
# A due time older than this is missed; the skip policy runs only a due time younger than this.
MISFIRE_GRACE = timedelta(seconds=60)
# Windows searched backwards for the latest due time of a cron schedule, smallest first.
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=366), timedelta(days=5 * 366))
# A walk over a long backlog of cron due times stops after this many steps.
_MAX_STEPS = 2_000

RUN_ONCE, SKIP, RUN_ALL = "run_once", "skip", "run_all"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A 5-field cron in a time zone, or an interval in seconds."""

    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: int | None = None

    def next_after(self, moment: datetime) -> datetime:
        """Return the first due time strictly after *moment* (UTC)."""
        if self.interval_seconds:
            step = self.interval_seconds
            return datetime.fromtimestamp((math.floor(moment.timestamp() / step) + 1) * step, UTC)
        zone = ZoneInfo(self.timezone or "UTC")
        fields = _crontab(self.cron)
        local = moment.astimezone(zone).replace(tzinfo=None)
        while True:
            local = _next_matching_minute(fields, local)
            for fold in (0, 1):  # a wall-clock time a DST change repeats: its first instant, else its second
                due = local.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                if due > moment:
                    return due

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """Return the last due time at or before *moment*, or None when there was none in five years."""
        if self.interval_seconds:
            step = self.interval_seconds
            return datetime.fromtimestamp(math.floor(moment.timestamp() / step) * step, UTC)
        for lookback in _LOOKBACKS:
            latest = None
            due = self.next_after(moment - lookback)
            while due <= moment:
                latest = due
                due = self.next_after(due)
            if latest is not None:
                return latest
        return None

    def in_words(self) -> str:
        """Say when the schedule is due, for a person ("At 03:00 AM, only on Monday (Europe/Paris)")."""
        if self.interval_seconds:
            return f"Every {_duration_in_words(self.interval_seconds)}"
        options = Options()
        options.use_24hour_time_format = True
        words = ExpressionDescriptor(self.cron, options).get_description()
        return f"{words} ({self.timezone or 'UTC'} time)"

    def upcoming(self, moment: datetime, count: int = 5) -> list[datetime]:
        """Return the next *count* due times after *moment*, in the schedule's time zone."""
        zone = ZoneInfo(self.timezone or "UTC")
        times, due = [], moment
        for _ in range(count):
            due = self.next_after(due)
            times.append(due.astimezone(zone))
        return times

    def describe(self) -> str:
        if self.interval_seconds:
            return f"every {self.interval_seconds} s"
        return f"{self.cron}" + (f" ({self.timezone})" if self.timezone and self.timezone != "UTC" else "")


def _duration_in_words(seconds: int) -> str:
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}" + ("s" if amount != 1 else ""))
    return " ".join(parts) if parts != ["1 second"] else "second"


_crontabs: dict[str, crontab] = {}


def _crontab(cron: str) -> crontab:
    parsed = _crontabs.get(cron)
    if parsed is None:
        minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
        parsed = _crontabs[cron] = crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    return parsed


def _next_matching_minute(fields: crontab, after: datetime) -> datetime:
    """Return the first wall-clock minute strictly after *after* (naive, local) that *fields* match.

    Celery's semantics: month, day of month and day of week must all match.
    (Celery's own next-time arithmetic skips due times across month ends in
    some zones, so only its field parsing is used.)
    """
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = moment + timedelta(days=5 * 366)
    while moment < limit:
        if moment.month not in fields.month_of_year:
            year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
            moment = datetime(year, month, 1)
        elif moment.day not in fields.day_of_month or (moment.weekday() + 1) % 7 not in fields.day_of_week:
            moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
        elif moment.hour not in fields.hour:
            moment = datetime(moment.year, moment.month, moment.day, moment.hour) + timedelta(hours=1)
        elif moment.minute not in fields.minute:
            moment += timedelta(minutes=1)
        else:
            return moment
    raise ValueError("the schedule matches no minute within five years")


def pending_due_times(
    schedule: Schedule, last_due: datetime, now: datetime, limit: int = MAX_MISSED_RUNS
) -> tuple[list[datetime], int]:
    """Return the newest *limit* due times after *last_due* and at or before *now* (oldest first), and how many
    older ones were left out."""
    latest = schedule.latest_at_or_before(now)
    if latest is None or latest <= last_due:
        return [], 0
    if schedule.interval_seconds:
        step = schedule.interval_seconds
        count = round((latest - schedule.latest_at_or_before(last_due)).total_seconds() / step)
        kept = min(count, limit)
        return [latest - timedelta(seconds=step * index) for index in reversed(range(kept))], count - kept
    # Walk forward from a start close enough to *latest* to find *limit* due times, or from *last_due* itself.
    for window in _LOOKBACKS:
        start = max(last_due, latest - window)
        newest: deque[datetime] = deque(maxlen=limit)
        due, steps = schedule.next_after(start), 0
        while due <= latest and steps < _MAX_STEPS:
            newest.append(due)
            due, steps = schedule.next_after(due), steps + 1
        walked_all = due > latest
        if walked_all and (start == last_due or len(newest) == limit):
            return list(newest), steps - len(newest)
        if not walked_all:
            break  # too dense to walk this window: the smaller one's answer stands
    return [latest], 0


def due_times_to_run(policy: str, pending: list[datetime], now: datetime) -> list[datetime]:
    """Return which of the *pending* due times (oldest first) run under *policy*.

    run_once: one run, for the newest; skip: the newest only if it is not yet
    missed (younger than MISFIRE_GRACE); run_all: every one given. On time,
    all three run the one pending due time.
    """
    if not pending:
        return []
    newest = pending[-1]
    if policy == RUN_ALL:
        return list(pending)
    if policy == SKIP:
        return [newest] if now - newest <= MISFIRE_GRACE else []
    return [newest]
