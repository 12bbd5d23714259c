"""A PostgreSQL restart while runs are queued and running: every process heals by itself."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import TEMPLATE, migrated_postgres
from tests.faults.deployment import Deployment, execution_ids

pytestmark = pytest.mark.slow

RUNS = 60


@pytest.fixture
def own_postgres():
    server = migrated_postgres()
    yield server
    server.cleanup()


@pytest.fixture
def platform(own_postgres, redis, tmp_path):
    deployment = Deployment(own_postgres, redis, tmp_path, TEMPLATE)
    deployment.prepare("fault_lab")
    deployment.start_web()
    deployment.start_worker(concurrency=2)
    deployment.start_beat()
    yield deployment
    deployment.stop_all()


def test_a_postgresql_restart_during_runs_loses_nothing_and_runs_nothing_twice(platform, own_postgres):
    folder = str(platform.effects)
    responses = [
        platform.api(
            "POST",
            "/api/extensions/background-tasks/fault-lab/record/execute",
            {"parameters": {"folder": folder, "seconds": 0.1}},
        )
        for _ in range(RUNS)
    ]
    assert [response.status_code for response in responses] == [202] * RUNS
    ids = execution_ids(responses)
    platform.wait_until(lambda: len(platform.effects_of()[0]) >= 5, 60, "five runs done")

    own_postgres.restart("fast")
    restarted = time.monotonic()
    platform.wait_all_terminal(ids, 180)
    recovered_seconds = time.monotonic() - restarted
    rows = platform.executions("id = ANY(%s::uuid[])", (ids,))
    firsts, duplicates = platform.effects_of()
    health = platform.api("GET", "/api/extensions/background-tasks/health").json()

    assert {row["status"] for row in rows} == {"completed"}, [row for row in rows if row["status"] != "completed"]
    assert len(firsts) == RUNS and duplicates == []
    assert all(process.poll() is None for process in platform.processes), "a platform process exited"
    assert "CRITICAL" not in platform.log("beat.log")
    assert health["workers"]["status"] == "ok" and health["beat"]["status"] == "ok", health
    print(f"RECOVERY postgres_restart runs_terminal_after={recovered_seconds:.1f}s")


def test_a_database_outage_longer_than_the_silence_window_records_no_run_as_lost(platform, own_postgres):
    folder = str(platform.effects)
    responses = [
        platform.api(
            "POST",
            f"/api/extensions/background-tasks/fault-lab/{task}/execute",
            {"parameters": {"folder": folder, "seconds": 3}},
        )
        for task in ["record", "record_in_process"] * 4
    ]
    ids = execution_ids(responses)
    platform.wait_until(
        lambda: len(platform.executions("status = 'running'")) >= 2, 60, "two runs running", interval=0.05
    )

    own_postgres.stop("fast")
    time.sleep(25)  # longer than the 20 s after which a silent run counts as lost
    own_postgres.start()
    started = time.monotonic()
    platform.wait_all_terminal(ids, 180)
    recovered_seconds = time.monotonic() - started
    rows = platform.executions("id = ANY(%s::uuid[])", (ids,))
    firsts, duplicates = platform.effects_of()

    assert [row for row in rows if row["status"] != "completed"] == []
    assert len(firsts) == len(ids) and duplicates == []
    assert all(process.poll() is None for process in platform.processes), "a platform process exited"
    print(f"RECOVERY postgres_outage_25s runs_terminal_after={recovered_seconds:.1f}s")
