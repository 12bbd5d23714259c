"""A real Celery worker process follows extension changes made elsewhere, before its next task."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import cache

from extensions_core.services import extension_discover, extension_unload
from extensions_core.tasks import registry_report_task
from tests.conftest import install_fixture
from tests.processes import start_worker, stop_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(extensions_root):
    process = start_worker(concurrency=1)
    yield process
    stop_process(process)


def report_from_worker(timeout: float = 60) -> dict:
    key = f"test-registry-report-{uuid.uuid4().hex}"
    registry_report_task.delay(key)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = cache.get(key)
        if report is not None:
            return report
        time.sleep(0.05)
    raise AssertionError("the worker did not run the task")


def test_a_worker_process_loads_and_drops_extensions_as_the_database_says(extensions_root, worker):
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "with_routes")
    extension_discover(load_new=True)

    before = report_from_worker()
    extension_unload(name="with-routes")
    time.sleep(0.3)
    after = report_from_worker()

    assert before["loaded"] == {"valid-minimal": 1, "with-routes": 1}
    assert after["loaded"] == {"valid-minimal": 1}
    assert before["pid"] != __import__("os").getpid()
