"""Private PostgreSQL and Redis servers started from the installed binaries, on free ports.

Used by the test runner (when the machine has no servers) and by the fault
tests, which stop, restart and kill them. Each instance is ended by the pid it
started, never by name or port, so the machine's own servers are never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_for_port(port: int, what: str, seconds: float = 30, *, listening: bool = True) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_listening(port) == listening:
            return
        time.sleep(0.05)
    state = "start listening" if listening else "stop listening"
    raise RuntimeError(f"{what} did not {state} on port {port} within {seconds} s")


def postgres_binaries() -> Path | None:
    """Return the folder of initdb/pg_ctl/postgres, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                return True
        except ChildProcessError:
            pass
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, on its own port, with trust authentication."""

    def __init__(self, *, fsync: bool = False) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb found)")
        self.binaries = binaries
        self.data = Path(tempfile.mkdtemp(prefix="karen-pg-"))
        self.port = free_port()
        self.fsync = fsync
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            if not shutil.which("runuser"):
                raise RuntimeError("cannot start PostgreSQL as root without runuser")
            shutil.chown(self.data, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self._initialized = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, from its own pid file; None when it is not running."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _pg_ctl(self, *arguments: str, check: bool = True) -> None:
        subprocess.run(
            [*self.run_as, str(self.binaries / "pg_ctl"), "-D", str(self.data), *arguments],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> PrivatePostgres:
        if not self._initialized:
            subprocess.run(
                [*self.run_as, str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            self._initialized = True
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._pg_ctl("-l", str(self.data / "log"), "-w", "-t", "60", "-o", options, "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (pg_ctl signals the postmaster of this data folder only)."""
        pid = self.pid
        if pid is None:
            return
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop", check=False)
        _wait_gone(pid, 30)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); its backends end when they notice."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_database_from(self, template: str, name: str) -> str:
        """Create database *name* as a copy of *template* (no one may be connected to it)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)


class PrivateRedis:
    """A Redis server on its own port that keeps nothing on disk (like the machine's)."""

    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed")
        self.server = server
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, "Redis")
        return self

    def stop(self) -> None:
        """Stop the server this object started (SIGTERM to its pid), waiting until the port is free."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        wait_for_port(self.port, "Redis", listening=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
