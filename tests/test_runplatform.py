"""The start command: prepares, prints the login, runs web + worker + beat, and stops them together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_environment(tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(KAREN_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    return env


def test_prepare_creates_the_admin_once_and_prints_how_to_log_in(tmp_path):
    command = [sys.executable, "manage.py", "runplatform", "--prepare-only", "--port", "8765"]

    first = subprocess.run(command, cwd=ROOT, env=embedded_environment(tmp_path), capture_output=True, text=True)
    second = subprocess.run(command, cwd=ROOT, env=embedded_environment(tmp_path), capture_output=True, text=True)

    assert first.returncode == 0, first.stderr
    password = re.search(r"log in as  admin / (\S+)  \(first run", first.stdout).group(1)
    assert (tmp_path / "var" / "admin-password.txt").read_text().strip() == password
    assert "http://127.0.0.1:8765/admin/" in first.stdout
    assert "Extensions: 2 found, loaded: background-task-extension, hello-extension" in first.stdout
    assert f"log in as  admin / {password}  (from " in second.stdout


def test_start_serves_the_admin_and_ctrl_c_stops_web_worker_and_beat(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runplatform",
            "--port",
            str(port),
            "--web-workers",
            "1",
            "--worker-concurrency",
            "1",
        ],
        cwd=ROOT,
        env=embedded_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2).status
            except OSError:
                time.sleep(0.5)
        children = psutil.Process(process.pid).children(recursive=True)
        commands = " ".join(" ".join(child.cmdline()) for child in children)

        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=15)
    finally:
        if process.poll() is None:
            process.kill()

    assert status == 200
    assert "gunicorn" in commands and "worker" in commands and "beat" in commands
    assert alive == []
