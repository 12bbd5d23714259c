"""Due times of cron and interval schedules, and which missed ones each misfire policy runs (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extensions_core.due_times import (
    MISFIRE_GRACE,
    RUN_ALL,
    RUN_ONCE,
    SKIP,
    Schedule,
    due_times_to_run,
    pending_due_times,
)

moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))
crons = st.sampled_from(["*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5", "15,45 */3 1,15 * *", "0 0 1 1 *"])
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])


@settings(max_examples=200, deadline=None)
@given(cron=crons, zone=zones, moment=moments)
def test_the_next_cron_due_time_is_later_and_nothing_is_due_in_between(cron, zone, moment):
    schedule = Schedule(cron=cron, timezone=zone)

    upcoming = schedule.next_after(moment)
    latest = schedule.latest_at_or_before(upcoming - timedelta(microseconds=1))

    assert upcoming > moment
    assert latest is None or latest <= moment


def brute_force_next(cron: str, zone: str, moment: datetime) -> datetime:
    """Walk UTC minutes after *moment* until one whose local wall time matches (the definition, slowly)."""
    from zoneinfo import ZoneInfo

    minute_, hour_, dom, month, dow = cron.split()

    def matches(field: str, value: int) -> bool:
        for part in field.split(","):
            base, _, step = part.partition("/")
            low, high = (0, 59) if base == "*" else (int(base.split("-")[0]), int(base.split("-")[-1]))
            if low <= value <= high and (value - low) % int(step or 1) == 0:
                return True
        return False

    candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        local = candidate.astimezone(ZoneInfo(zone))
        if (
            matches(minute_, local.minute)
            and matches(hour_, local.hour)
            and matches(dom, local.day)
            and matches(month, local.month)
            and matches(dow, (local.weekday() + 1) % 7)
        ):
            return candidate
        candidate += timedelta(minutes=1)


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(["*/7 * * * *", "15,45 */3 * * *", "30 2 * * *", "0 9 * * 1-5", "5 0,12 * * *"]),
    # Zones without daylight saving: the oracle has no rule for wall times a clock change skips or repeats.
    zone=st.sampled_from(["UTC", "Asia/Kolkata", "Asia/Tokyo", "America/Phoenix"]),
    moment=moments,
)
def test_the_next_cron_due_time_is_the_first_matching_local_minute(cron, zone, moment):
    assert Schedule(cron=cron, timezone=zone).next_after(moment) == brute_force_next(cron, zone, moment)


@settings(max_examples=300, deadline=None)
@given(seconds=st.integers(min_value=1, max_value=86400 * 7), moment=moments)
def test_interval_due_times_are_multiples_of_the_interval_since_the_epoch(seconds, moment):
    schedule = Schedule(interval_seconds=seconds)

    upcoming = schedule.next_after(moment)
    latest = schedule.latest_at_or_before(moment)

    assert upcoming.timestamp() % seconds == 0 and latest.timestamp() % seconds == 0
    assert latest <= moment < upcoming
    assert upcoming - latest == timedelta(seconds=seconds)


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(min_value=1, max_value=3600), moment=moments, back=st.integers(min_value=0, max_value=500))
def test_pending_interval_due_times_are_every_one_since_the_last_fired(seconds, moment, back):
    schedule = Schedule(interval_seconds=seconds)
    last = schedule.latest_at_or_before(moment) - timedelta(seconds=seconds * back)

    pending, left_out = pending_due_times(schedule, last, moment, limit=100)

    assert len(pending) + left_out == back
    assert len(pending) == min(back, 100)
    assert all(due > last for due in pending) and all(due <= moment for due in pending)
    assert pending == sorted(pending)


def test_pending_cron_due_times_walk_from_the_last_fired_to_now():
    schedule = Schedule(cron="*/5 * * * *")
    now = datetime(2026, 12, 1, 10, 2, 30, tzinfo=UTC)

    pending, left_out = pending_due_times(schedule, now - timedelta(minutes=27), now)

    assert [due.strftime("%H:%M") for due in pending] == ["09:40", "09:45", "09:50", "09:55", "10:00"]
    assert left_out == 0


def test_a_long_cron_backlog_keeps_its_newest_due_times():
    schedule = Schedule(cron="* * * * *")
    now = datetime(2026, 12, 1, 10, 2, 30, tzinfo=UTC)

    pending, left_out = pending_due_times(schedule, now - timedelta(days=30), now, limit=100)

    assert len(pending) == 100 and pending[-1] == datetime(2026, 12, 1, 10, 2, tzinfo=UTC)
    assert left_out > 0


def test_a_cron_in_a_time_zone_is_due_at_its_local_time_across_daylight_saving():
    schedule = Schedule(cron="30 8 * * *", timezone="Europe/Paris")

    winter = schedule.next_after(datetime(2026, 3, 27, 12, tzinfo=UTC))
    summer = schedule.next_after(datetime(2026, 3, 30, 12, tzinfo=UTC))

    assert winter == datetime(2026, 3, 28, 7, 30, tzinfo=UTC)
    assert summer == datetime(2026, 3, 31, 6, 30, tzinfo=UTC)


NOW = datetime(2026, 12, 1, 10, 2, 30, tzinfo=UTC)
OLD = [NOW - timedelta(minutes=minutes) for minutes in (30, 20, 10)]
FRESH = [NOW - timedelta(minutes=20), NOW - MISFIRE_GRACE / 2]


@pytest.mark.parametrize(
    ("policy", "pending", "expected"),
    [
        (RUN_ONCE, [], []),
        (RUN_ONCE, OLD, [OLD[-1]]),
        (RUN_ONCE, FRESH, [FRESH[-1]]),
        (SKIP, OLD, []),
        (SKIP, FRESH, [FRESH[-1]]),
        (RUN_ALL, OLD, OLD),
        (RUN_ALL, FRESH[-1:], FRESH[-1:]),
    ],
)
def test_misfire_policies_choose_which_pending_due_times_run(policy, pending, expected):
    assert due_times_to_run(policy, pending, NOW) == expected


def test_a_wall_time_skipped_by_the_clock_change_runs_just_after_it_and_a_repeated_one_runs_once():
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Paris")

    skipped = schedule.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))  # 02:30 does not exist on March 29
    repeated = schedule.next_after(datetime(2026, 10, 24, 12, tzinfo=UTC))  # 02:30 happens twice on October 25
    after_repeated = schedule.next_after(repeated)

    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 summer time
    assert repeated == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (summer time)
    assert after_repeated == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
