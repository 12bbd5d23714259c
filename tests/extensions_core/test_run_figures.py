"""The dashboard's 24 h run figures from ten-minute slices: exact, narrowed per viewer, ended slices read once."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from extensions_core import run_figures as figures_module
from extensions_core.health import duration_percentiles
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.permissions import VIEW_TASK, grant
from extensions_core.run_figures import _Merged, run_figures, slice_book
from extensions_core.services import extension_discover
from tests.conftest import install_fixture

pytestmark = pytest.mark.django_db
Status = TaskExecution.Status


@pytest.fixture
def lab(extensions_root):
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    return TaskDefinition.objects.filter(extension__name="task-lab").order_by("name")


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password="pw")


def run(definition, status: str, *, minutes_ago: float, seconds: float = 2.0, cpu: float = 0.5, peak: int = 1000):
    queued = timezone.now() - timedelta(minutes=minutes_ago)
    finished = status not in TaskExecution.ACTIVE_STATUSES
    return TaskExecution.objects.create(
        id=uuid.uuid4(),
        definition=definition,
        extension_name=definition.extension.name if definition else "gone",
        task_name=definition.name if definition else "gone",
        status=status,
        trigger_type=TaskExecution.Trigger.MANUAL,
        queued_at=queued,
        started_at=queued if status != Status.PENDING else None,
        finished_at=queued + timedelta(seconds=seconds) if finished else None,
        duration_seconds=seconds if finished else None,
        cpu_seconds=cpu if finished else None,
        peak_memory_bytes=peak if finished else None,
    )


def expected(rows: list[TaskExecution], since) -> dict:
    """The figures computed the plain way, from every row."""
    inside = [row for row in rows if row.queued_at >= since]
    by_extension: dict[str, list] = {}
    for row in inside:
        figures = by_extension.setdefault(row.extension_name, [0, 0, 0, 0.0, None, None])
        figures[0] += 1
        figures[1] += row.status == Status.COMPLETED
        figures[2] += row.status == Status.FAILED
        figures[3] += row.cpu_seconds or 0.0
        figures[4] = max(filter(None, (figures[4], row.peak_memory_bytes)), default=None)
        figures[5] = max(filter(None, (figures[5], row.queued_at)), default=None)
    hours: dict = {}
    for row in inside:
        hour = row.queued_at.replace(minute=0, second=0, microsecond=0)
        hours.setdefault(hour, Counter())[row.status] += 1
    return {
        "by_status": Counter(row.status for row in inside),
        "by_extension": by_extension,
        "hours": {hour: counts for hour, counts in hours.items() if counts},
        "durations": sorted(row.duration_seconds for row in inside if row.duration_seconds is not None),
    }


def seen(figures) -> dict:
    return {
        "by_status": +figures.by_status(),
        "by_extension": {
            name: [row.runs, row.completed, row.failed, row.cpu_seconds, row.peak_memory_bytes, row.last_queued_at]
            for name, row in figures.by_extension().items()
        },
        "hours": {hour: +counts for hour, counts in figures.by_hour_and_status().items() if +counts},
    }


def assert_same(figures, rows) -> None:
    wanted = expected(rows, figures.since)
    got = seen(figures)
    for name, row in wanted["by_extension"].items():
        row[3] = pytest.approx(row[3])
        assert got["by_extension"][name] == row
    assert set(got["by_extension"]) == set(wanted["by_extension"])
    assert got["by_status"] == wanted["by_status"]
    assert got["hours"] == wanted["hours"]


def test_the_figures_equal_those_of_every_row_on_every_look(lab, root):
    chance = random.Random(7)
    definitions = list(lab)
    rows = [
        run(
            chance.choice(definitions),
            chance.choice([Status.COMPLETED, Status.COMPLETED, Status.FAILED, Status.CANCELLED]),
            minutes_ago=chance.uniform(0.5, 26 * 60),  # some before the window, some in the open slice
            seconds=chance.uniform(0.1, 30),
            cpu=chance.uniform(0, 3),
            peak=chance.randint(1, 10**8),
        )
        for _ in range(300)
    ]
    rows.append(run(definitions[0], Status.RUNNING, minutes_ago=90))
    rows.append(run(definitions[1], Status.PENDING, minutes_ago=0.2))

    for _ in range(2):  # the first look reads every slice, the second reuses the ended ones
        figures = run_figures(root, durations=True)
        assert_same(figures, rows)
        durations = expected(rows, figures.since)["durations"]
        assert [figures.percentiles()[key] for key in ("p50", "p95", "p99")] == [
            duration_percentiles_of(durations, fraction) for fraction in (0.5, 0.95, 0.99)
        ]
        assert figures.percentiles()["max"] == max(durations)


def duration_percentiles_of(values: list[float], fraction: float) -> float:
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return round(values[low] + (values[high] - values[low]) * (position - low), 6)


def test_the_p95_is_the_databases_own(lab, root):
    chance = random.Random(3)
    for _ in range(200):
        run(lab[0], Status.COMPLETED, minutes_ago=chance.uniform(1, 20 * 60), seconds=chance.uniform(0, 100))
    figures = run_figures(root, durations=True)

    rows = TaskExecution.objects.filter(queued_at__gte=figures.since, duration_seconds__isnull=False)
    database = duration_percentiles(rows)  # percentile_cont on PostgreSQL

    assert figures.percentiles()["p95"] == pytest.approx(database["p95"], abs=1e-6)
    assert figures.percentiles()["p50"] == pytest.approx(database["p50"], abs=1e-6)


def test_an_ended_slice_is_read_once_and_the_open_one_on_every_look(lab, root):
    for minutes in (40, 100, 300, 900):
        run(lab[0], Status.COMPLETED, minutes_ago=minutes)
    run_figures(root)

    with CaptureQueriesContext(connection) as looked:
        run_figures(root)

    reads = [query["sql"] for query in looked.captured_queries if "extensions_core_taskexecution" in query["sql"]]
    assert len(reads) == 1  # only the open slice (and anything newer)
    assert "< " not in reads[0].split("WHERE", 1)[1]  # no bounded range: nothing ended was read again


def test_a_run_still_going_in_an_ended_slice_is_read_until_it_ends(lab, root):
    going = run(lab[0], Status.RUNNING, minutes_ago=60)
    assert run_figures(root).by_status()[Status.RUNNING] == 1

    TaskExecution.objects.filter(pk=going.pk).update(
        status=Status.FAILED, finished_at=timezone.now(), duration_seconds=3600.0
    )

    counts = run_figures(root).by_status()
    assert counts[Status.RUNNING] == 0
    assert counts[Status.FAILED] == 1


@pytest.mark.django_db(transaction=True)  # the refresh reads on its own thread's connection
def test_every_slice_is_read_again_in_the_background_after_the_refresh_time(lab, root, monkeypatch):
    gone = run(lab[0], Status.COMPLETED, minutes_ago=60)
    assert run_figures(root).by_status()[Status.COMPLETED] == 1
    TaskExecution.objects.filter(pk=gone.pk).delete()  # behind the platform's back
    assert run_figures(root).by_status()[Status.COMPLETED] == 1  # the ended slice is reused

    monkeypatch.setattr(slice_book, "refreshed_at", slice_book.refreshed_at - figures_module.REFRESH_SECONDS - 1)
    seen_while_refreshing = run_figures(root).by_status()[Status.COMPLETED]
    slice_book.refresher.join(timeout=10)

    assert seen_while_refreshing in (0, 1)  # the look that starts the refresh does not wait for it
    assert run_figures(root).by_status()[Status.COMPLETED] == 0
    assert not slice_book.refresher.is_alive()


def test_a_viewer_counts_only_the_runs_of_tasks_they_may_see(lab, root):
    first, second = lab[0], lab[1]
    for minutes in (30, 200):
        run(first, Status.COMPLETED, minutes_ago=minutes)
        run(second, Status.FAILED, minutes_ago=minutes)
    run(None, Status.COMPLETED, minutes_ago=50)  # its task definition is gone: only superusers see it
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    grant(viewer, VIEW_TASK, first)

    assert run_figures(root).by_status() == Counter({Status.COMPLETED: 3, Status.FAILED: 2})
    narrowed = run_figures(viewer, durations=True)

    assert +narrowed.by_status() == Counter({Status.COMPLETED: 2})
    assert narrowed.percentiles()["max"] == 2.0
    assert run_figures(root).by_status()[Status.FAILED] == 2  # the superuser's sums are their own


def test_the_chart_and_the_24_h_window_count_the_same_runs(lab, root, client):
    for minutes in (5, 70, 600, 23 * 60):
        run(lab[0], Status.COMPLETED, minutes_ago=minutes)
    figures = run_figures(root)

    assert sum(sum(counts.values()) for counts in figures.by_hour_and_status().values()) == sum(
        figures.by_status().values()
    )


@given(st.lists(st.lists(st.integers(0, 20), max_size=15).map(sorted), min_size=1, max_size=4))
def test_sorted_runs_read_as_one_sorted_sequence(runs):
    merged = _Merged(runs)
    everything = sorted(value for values in runs for value in values)

    assert len(merged) == len(everything)
    assert [merged[index] for index in range(len(merged))] == everything


def test_runs_cannot_be_deleted_in_the_admin(lab, root, client):
    record = run(lab[0], Status.COMPLETED, minutes_ago=30)
    client.force_login(root)

    page = client.get(f"/admin/extensions_core/taskexecution/{record.pk}/delete/")
    bulk = client.post(
        "/admin/extensions_core/taskexecution/",
        {"action": "delete_selected", "_selected_action": [str(record.pk)], "post": "yes"},
    )

    assert page.status_code == 403
    assert bulk.status_code in (200, 302)
    assert TaskExecution.objects.filter(pk=record.pk).exists()
    assert 'value="delete_selected"' not in client.get("/admin/extensions_core/taskexecution/").content.decode()
