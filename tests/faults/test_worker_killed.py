"""SIGKILL of a worker holding runs: every run ends, none runs twice, nothing it started is left."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.faults.deployment import execution_ids

pytestmark = pytest.mark.slow


def session_members(session: int) -> list[int]:
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getsid(process.pid) == session and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def test_a_killed_worker_leaves_every_run_terminal_once_and_no_process_behind(deployment):
    platform = deployment
    platform.prepare("fault_lab")
    platform.start_web()
    worker = platform.start_worker(concurrency=2)
    folder = str(platform.effects)
    ids = execution_ids(
        [
            platform.api(
                "POST",
                f"/api/extensions/background-tasks/fault-lab/{task}/execute",
                {"parameters": {"folder": folder, "seconds": 2}},
            )
            for task in ["record", "record_in_process"] * 10
        ]
    )
    platform.wait_until(lambda: len(platform.executions("status = 'running'")) >= 2, 60, "two runs running", 0.05)

    os.killpg(worker.pid, signal.SIGKILL)  # the worker, its pool processes and their sandboxes, at once
    worker.wait(timeout=10)
    killed = time.monotonic()
    platform.start_worker(concurrency=2)
    platform.wait_all_terminal(ids, 120)
    settled_seconds = time.monotonic() - killed
    rows = {str(row["id"]): row for row in platform.executions("id = ANY(%s::uuid[])", (ids,))}
    firsts, duplicates = platform.effects_of()

    assert duplicates == []
    completed = [key for key, row in rows.items() if row["status"] == "completed"]
    assert set(completed) <= set(firsts)  # every completed run did its work, once
    assert {row["failure_reason"] for row in rows.values() if row["status"] != "completed"} <= {"worker_lost"}
    assert len(completed) >= len(ids) - 4  # at most the runs the killed worker held were lost
    assert session_members(worker.pid) == []
    print(
        f"RECOVERY worker_sigkill runs={len(ids)} all_terminal_after={settled_seconds:.1f}s "
        f"lost={len(ids) - len(completed)}"
    )
