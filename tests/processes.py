"""Helpers for tests that run real platform processes against the test database."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """Return a DATABASE_URL for the database the current test runs against."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or "postgres"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{config['NAME']}"


def process_environment(**extra: str) -> dict[str, str]:
    """Return the environment of a platform subprocess sharing this test's database."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


class LineReader:
    """Collects a subprocess's stdout lines in the background."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def next_json(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no JSON line within {timeout} s")
            if self.process.poll() is not None and self.lines.empty():
                raise RuntimeError(f"the process exited with code {self.process.returncode}")
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line.startswith("{"):
                return json.loads(line)


def start_follower(seconds: float = 60, **extra: str) -> tuple[subprocess.Popen, LineReader]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "follower.py"), str(seconds)],
        cwd=ROOT,
        env=process_environment(**extra),
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
    )
    return process, LineReader(process)


def worker_command(concurrency: int = 2, prefix: str = "test") -> list[str]:
    """The command line of a real Celery worker (prefork) of the platform."""
    import uuid

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "karen",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "-n",
        f"{prefix}-{uuid.uuid4().hex[:8]}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]


# A real Celery beat with the platform's scheduler, waking at least every second.
BEAT_COMMAND = [sys.executable, "-m", "celery", "-A", "karen", "beat", "--loglevel", "WARNING", "--max-interval", "1",
                "--schedule", "/dev/null"]  # fmt: skip


def start_worker(concurrency: int = 2, **extra: str) -> subprocess.Popen:
    """Start a real Celery worker (prefork) on the test database and the configured broker."""
    return subprocess.Popen(worker_command(concurrency), cwd=ROOT, env=process_environment(**extra))


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def start_beat(**extra: str) -> subprocess.Popen:
    """Start a real Celery beat with the platform's database scheduler, waking at least every second."""
    return subprocess.Popen(BEAT_COMMAND, cwd=ROOT, env=process_environment(**extra))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web(port: int, **extra: str) -> subprocess.Popen:
    """Start a real web process (gunicorn, one worker) of the platform on *port*, on the test database."""
    command = [sys.executable, "-m", "gunicorn", "karen.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "4", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=process_environment(**extra))


def wait_for_http(url: str, timeout: float = 30) -> None:
    """Wait until *url* answers at all (any status)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.1)
