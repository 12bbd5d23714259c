"""A run's processes die with it, and its memory limit holds, on a real worker (isolated runs in the sandbox)."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.services import extension_discover
from extensions_core.services.executions import execution_start
from tests.conftest import install_fixture
from tests.extensions_core.test_executions_worker import wait_until_finished
from tests.processes import start_worker, stop_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(extensions_root):
    install_fixture(extensions_root, "fault_lab")
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    process = start_worker(concurrency=2)
    yield process
    stop_process(process)


def start(extension: str, task: str, **parameters) -> TaskExecution:
    definition = TaskDefinition.objects.select_related("extension").get(extension__name=extension, name=task)
    return execution_start(definition=definition, trigger_type="manual", parameters=parameters, triggered_by="test")


def left_behind(folder) -> list[int]:
    pids = [int(line) for line in (folder / "children.pid").read_text().split()]
    pids.append(int((folder / "orphan.pid").read_text()))
    return pids


def alive(pids: list[int]) -> list[int]:
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            continue
    return running


def wait_gone(pids: list[int], seconds: float = 5) -> list[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


@pytest.mark.parametrize("wait", [True, False], ids=["killed_for_its_timeout", "returned_normally"])
def test_children_that_leave_the_session_or_are_orphaned_die_with_the_run(worker, tmp_path, wait):
    folder = tmp_path / "children"

    execution = wait_until_finished(start("fault-lab", "leave_children", folder=str(folder), wait=wait))
    # 5 s to start its children and write their pids: 2 s was not always enough on two loaded cores.
    assert (folder / "children.pid").exists(), f"the task ended before starting its children: {execution.error}"
    pids = left_behind(folder)

    assert execution.status == ("failed" if wait else "completed"), execution.error
    assert wait_gone(pids) == []
    assert not any(pid in os.listdir("/proc") for pid in map(str, pids) if alive([int(pid)]))


def test_a_task_cannot_lift_its_memory_limit(worker):
    plain = wait_until_finished(start("task-lab", "isolated"))
    lifted = wait_until_finished(start("fault-lab", "lift_memory_limit"))

    assert (lifted.status, lifted.failure_reason) == ("failed", "memory_limit"), lifted.error
    assert any("could not lift the limit" in line[2] for line in lifted.log), lifted.log
    # 64 MB allowed: the run never held twice that above what the sandbox held before it.
    assert lifted.peak_memory_bytes - plain.peak_memory_bytes < 2 * 64 * 2**20


def test_a_run_without_a_limit_after_a_limited_one_gets_a_fresh_sandbox_and_the_limit_holds_again(extensions_root):
    install_fixture(extensions_root, "task_lab")  # max_memory_mb 64
    install_fixture(extensions_root, "memory_lab")  # no limit
    extension_discover(load_new=True)
    process = start_worker(concurrency=1)  # one pool process: one sandbox, reused
    try:
        limited = wait_until_finished(start("task-lab", "isolated"))
        unlimited = wait_until_finished(start("memory-lab", "allocate", megabytes=200))
        hog = wait_until_finished(start("task-lab", "hog", megabytes=200))
    finally:
        stop_process(process)

    assert limited.status == "completed"
    assert (unlimited.status, unlimited.result["megabytes"]) == ("completed", 200), unlimited.error
    assert unlimited.result["pid"] != limited.result["pid"]  # the limited sandbox could not host it
    assert (hog.status, hog.failure_reason) == ("failed", "memory_limit")


NOISY = """
import logging
import threading
import time

from extensions_core.sdk import BaseExtension

logger = logging.getLogger("karen.extensions.noisy")


class Noisy(BaseExtension):
    def initialize(self):
        logger.warning("noisy starting")
        self.stopped = threading.Event()
        threading.Thread(target=self.chatter, daemon=True).start()

    def chatter(self):
        while not self.stopped.wait(0.02):
            logger.warning("noisy chatter")
            print("noisy print")

    def shutdown(self):
        self.stopped.set()
        logger.warning("noisy stopping")
"""


def test_a_runs_log_holds_only_its_own_lines_not_other_extensions_or_the_registry_sync(extensions_root):
    from extensions_core.services import extension_unload
    from tests.conftest import write_extension

    install_fixture(extensions_root, "task_lab")
    write_extension(extensions_root, "noisy", code=NOISY)
    extension_discover(load_new=True)
    process = start_worker(concurrency=1)  # one sandbox: it loads noisy, then unloads it between the runs
    try:
        first = wait_until_finished(start("task-lab", "succeed", value=21))
        extension_unload(name="noisy")
        time.sleep(0.5)  # past the sandbox's change-check interval: its next run starts by unloading noisy
        second = wait_until_finished(start("task-lab", "succeed", value=2))
    finally:
        stop_process(process)

    assert [line[1:] for line in first.log] == [
        ["INFO", "karen.tasks.task-lab.succeed: doubling 21"],
        ["STDOUT", "printed line"],
    ]
    assert [line[1:] for line in second.log] == [
        ["INFO", "karen.tasks.task-lab.succeed: doubling 2"],
        ["STDOUT", "printed line"],
    ]
