"""Redis (broker and cache) stopped for 20 s while runs are queued and clients call the API."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.faults.deployment import execution_ids

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 20


@pytest.fixture
def platform(deployment):
    deployment.prepare("fault_lab")
    deployment.start_web()
    deployment.start_worker(concurrency=2)
    deployment.start_beat()
    return deployment


class Traffic:
    """API clients calling list, health, an extension route and execute in a loop, recording every answer."""

    PATHS = [
        ("GET", "/api/extensions/", None),
        ("GET", "/api/extensions/system/health", None),
        ("GET", "/api/extensions/fault-lab/ping", None),
        ("GET", "/api/extensions/background-tasks/health", None),
    ]

    def __init__(self, platform) -> None:
        self.platform = platform
        self.answers: list[tuple[str, int, float]] = []
        self.executed: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        folder = str(self.platform.effects)
        round_number = 0
        while not self.stopped.is_set():
            round_number += 1
            calls = list(self.PATHS)
            if round_number % 3 == 0:
                calls.append(
                    (
                        "POST",
                        "/api/extensions/background-tasks/fault-lab/record/execute",
                        {"parameters": {"folder": folder}},
                    )
                )
            for method, path, body in calls:
                began = time.monotonic()
                try:
                    response = self.platform.api(method, path, body, timeout=30)
                    status = response.status_code
                    if status == 202:
                        self.executed.append(response.json()["execution_id"])
                except requests.RequestException:
                    status = -1
                self.answers.append((f"{method} {path}", status, time.monotonic() - began))
            time.sleep(0.1)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=60)


def test_a_redis_outage_gives_no_5xx_no_slow_request_and_every_run_completes_once(platform, redis):
    folder = str(platform.effects)
    before = execution_ids(
        [
            platform.api(
                "POST",
                "/api/extensions/background-tasks/fault-lab/record/execute",
                {"parameters": {"folder": folder, "seconds": 0.5}},
            )
            for _ in range(20)
        ]
    )
    with Traffic(platform) as traffic:
        time.sleep(1)
        redis.stop()
        time.sleep(OUTAGE_SECONDS / 2)
        health_during = platform.api("GET", "/api/extensions/system/health", timeout=30).json()
        time.sleep(OUTAGE_SECONDS / 2)
        redis.start()
        back = time.monotonic()
        time.sleep(2)
    ids = before + traffic.executed
    platform.wait_all_terminal(ids, 90)
    settled_seconds = time.monotonic() - back
    rows = platform.executions("id = ANY(%s::uuid[])", (ids,))
    firsts, duplicates = platform.effects_of()
    server_errors = [answer for answer in traffic.answers if answer[1] >= 500 or answer[1] < 0]
    slow = [answer for answer in traffic.answers if answer[2] > 5]

    assert server_errors == []
    assert slow == []
    assert health_during["broker"]["status"] == "down", health_during
    assert [row for row in rows if row["status"] != "completed"] == []
    assert len(firsts) == len(ids) and duplicates == []
    assert settled_seconds < 20 + 5, settled_seconds
    assert all(process.poll() is None for process in platform.processes), "a platform process exited"
    print(
        f"RECOVERY redis_outage_{OUTAGE_SECONDS}s requests={len(traffic.answers)} "
        f"slowest_request={max(answer[2] for answer in traffic.answers):.2f}s runs={len(ids)} "
        f"all_terminal_after_return={settled_seconds:.1f}s"
    )
