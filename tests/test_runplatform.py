"""The start command: prepares, prints the login, runs web + worker + beat, and stops them together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from tests.conftest import ROOT, install_shipped

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_environment(tmp_path) -> dict[str, str]:
    """The embedded stack with var/ and extensions/ folders of its own under *tmp_path*.

    extensions/ holds a copy of the shipped extensions unless the caller filled it first.
    """
    extensions = tmp_path / "extensions"
    if not extensions.exists():
        install_shipped(extensions)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        KAREN_VAR_DIR=str(tmp_path / "var"),
        KAREN_EXTENSION_DIRS=str(extensions),
        KAREN_ENTRY_POINTS="false",
        PYTHONUNBUFFERED="1",
    )
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


class Platform:
    """`manage.py runplatform` started in a session of its own, as a terminal runs a foreground command."""

    def __init__(self, tmp_path, port: int) -> None:
        command = [sys.executable, "manage.py", "runplatform", "--port", str(port)]
        self.port = port
        self.process = subprocess.Popen(
            [*command, "--web-workers", "1", "--worker-concurrency", "1"],
            cwd=ROOT,
            env=embedded_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()
        self.children: list[psutil.Process] = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_ready(self, timeout: float = 90) -> int | None:
        """Wait until web answers and worker and beat say they run; return the admin login page's status."""
        deadline, status = time.monotonic() + timeout, None
        while time.monotonic() < deadline and self.process.poll() is None:
            if status is None:
                try:
                    status = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/admin/login/", timeout=2).status
                except OSError:
                    pass
            if status and re.search(r"worker-\S+ ready\.", self.output) and "beat: Starting" in self.output:
                break
            time.sleep(0.5)
        self.children = psutil.Process(self.process.pid).children(recursive=True)
        return status

    def wait_for_exit(self, timeout: float = 60) -> int:
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return self.process.returncode

    def kill_leftovers(self) -> None:
        """After a failed test: kill the command and the children it had (each in a session of its own)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        for child in self.children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


def test_ctrl_c_to_the_process_group_stops_every_process_cleanly_and_says_so(tmp_path):
    platform = Platform(tmp_path, free_port())
    try:
        status = platform.wait_until_ready()

        os.killpg(platform.process.pid, signal.SIGINT)
        code = platform.wait_for_exit()
        gone, alive = psutil.wait_procs(platform.children, timeout=5)
    finally:
        platform.kill_leftovers()

    output = platform.output
    assert status == 200
    assert code == 0, output
    assert output.rstrip().splitlines()[-1] == "karen: stopped"
    assert "worker: Warm shutdown" in output and "Shutting down: Master" in output
    assert [line for line in output.splitlines() if re.search(r"ERROR|CRITICAL|Traceback|killing|SIGKILL", line)] == []
    assert alive == []


def test_start_serves_the_admin_and_sigint_to_the_command_stops_web_worker_and_beat(tmp_path):
    platform = Platform(tmp_path, free_port())
    try:
        status = platform.wait_until_ready()
        commands = " ".join(" ".join(child.cmdline()) for child in platform.children)

        platform.process.send_signal(signal.SIGINT)
        code = platform.wait_for_exit()
        gone, alive = psutil.wait_procs(platform.children, timeout=15)
    finally:
        platform.kill_leftovers()

    assert status == 200
    assert "gunicorn" in commands and "worker" in commands and "beat" in commands
    assert (code, platform.output.rstrip().splitlines()[-1]) == (0, "karen: stopped")
    assert alive == []
