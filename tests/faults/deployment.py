"""A production-stack deployment of the platform on private PostgreSQL and Redis, driven as an operator would.

Web (gunicorn), worker and beat run as real processes; the test talks HTTP to
the web process and reads the database with its own psycopg connection, so a
server restart breaks the platform's connections, never the test's view.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.processes import BEAT_COMMAND, worker_command
from tests.servers import PrivatePostgres, PrivateRedis, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixture_extensions"
TERMINAL = ("completed", "failed", "cancelled")


class Deployment:
    """One platform: its own database on the shared private PostgreSQL, its own Redis database number."""

    def __init__(self, postgres: PrivatePostgres, redis: PrivateRedis, folder: Path, template: str) -> None:
        self.postgres = postgres
        self.redis = redis
        self.folder = folder
        self.name = f"karen_{uuid.uuid4().hex[:10]}"
        self.database_url = postgres.create_database_from(template, self.name)
        self.extensions = folder / "extensions"
        self.extensions.mkdir(parents=True, exist_ok=True)
        self.effects = folder / "effects"
        self.effects.mkdir()
        self.var = folder / "var"
        self.processes: list[subprocess.Popen] = []
        self.web_port: int | None = None
        self.token = ""

    # --- environment and commands -------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "KAREN_", "CELERY_", "DJANGO_"))
        }
        environment.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url(0),
            KAREN_VAR_DIR=str(self.var),
            KAREN_EXTENSION_DIRS=str(self.extensions),
            KAREN_ENTRY_POINTS="false",
            KAREN_FAULT_FOLDER=str(self.effects),
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="WARNING",
        )
        environment.update(extra)
        return environment

    def manage(self, *arguments: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def install(self, fixture: str, as_name: str | None = None) -> Path:
        target = self.extensions / (as_name or fixture)
        shutil.copytree(FIXTURES / fixture, target, ignore=shutil.ignore_patterns("__pycache__"))
        return target

    def prepare(self, *fixtures: str) -> None:
        """Install *fixtures*, discover and load them, and create an API token for a superuser."""
        for fixture in fixtures:
            self.install(fixture)
        self.manage("extensions", "discover")
        output = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; from knox.models import AuthToken; "
            "user = User.objects.create_superuser('operator', password='operator-password'); "
            "print(AuthToken.objects.create(user, expiry=None)[1])",
        ).stdout
        self.token = output.strip().splitlines()[-1]

    # --- processes ----------------------------------------------------------------------------

    def _spawn(self, arguments: list[str], log: str, **extra: str) -> subprocess.Popen:
        handle = open(self.folder / log, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            arguments, cwd=ROOT, env=self.env(**extra), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        self.processes.append(process)
        return process

    def start_worker(self, concurrency: int = 2, **extra: str) -> subprocess.Popen:
        return self._spawn(worker_command(concurrency, prefix="fault"), "worker.log", **extra)

    def start_beat(self, **extra: str) -> subprocess.Popen:
        return self._spawn(BEAT_COMMAND, "beat.log", **extra)

    def start_web(self) -> subprocess.Popen:
        self.web_port = free_port()
        process = self._spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "karen.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--timeout",
                "30",
            ],
            "web.log",
        )
        wait_for_port(self.web_port, "gunicorn", 60)
        return process

    def stop(self, process: subprocess.Popen, *, kill: bool = False, timeout: float = 30) -> None:
        """End *process* and everything in its session (it was started in a session of its own)."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # any child left in its session
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    # --- HTTP and database ----------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> requests.Response:
        return requests.request(
            method,
            f"http://127.0.0.1:{self.web_port}{path}",
            json=body,
            headers={"Authorization": f"Token {self.token}", "Accept": "application/json"},
            timeout=timeout,
        )

    def query(self, sql: str, parameters: tuple | list = ()) -> list[tuple]:
        """Run *sql* on a fresh connection (the server may have restarted since the last query)."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as connection:
            return connection.execute(sql, parameters).fetchall()

    def executions(self, where: str = "TRUE", parameters: tuple = ()) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT id, task_name, status, failure_reason, trigger_type, error, triggered_by "
            f"FROM extensions_core_taskexecution WHERE {where}",
            parameters,
        )
        keys = ("id", "task_name", "status", "failure_reason", "trigger_type", "error", "triggered_by")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def wait_all_terminal(self, ids: list[str], timeout: float) -> float:
        """Wait until every execution of *ids* has ended; return the seconds it took."""
        return self.wait_until(
            lambda: all(row["status"] in TERMINAL for row in self.executions("id = ANY(%s::uuid[])", (ids,))),
            timeout,
            "every run terminal",
        )

    def wait_until(self, predicate, timeout: float, what: str, interval: float = 0.2) -> float:
        """Poll *predicate* until true; return the seconds it took; fail with *what* after *timeout*."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            try:
                if predicate():
                    return time.monotonic() - began
            except psycopg.OperationalError:
                pass  # the server is restarting: ask again
            time.sleep(interval)
        raise AssertionError(f"{what} not within {timeout} s")

    def effects_of(self, prefix: str = "") -> tuple[list[str], list[str]]:
        """Return (first runs, duplicate runs) recorded by fault-lab tasks."""
        names = [name for name in os.listdir(self.effects) if name.startswith(prefix)]
        return [name for name in names if ".dup-" not in name], [name for name in names if ".dup-" in name]


def execution_ids(responses: list[requests.Response]) -> list[str]:
    return [response.json()["execution_id"] for response in responses]


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
