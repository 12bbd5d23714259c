"""Run the whole test suite twice: on the embedded stack, then on PostgreSQL + Redis.

PostgreSQL and Redis are found in this order: KAREN_TEST_DATABASE_URL /
KAREN_TEST_REDIS_URL; servers already listening on 127.0.0.1:5432 / :6379;
private instances started here from installed binaries (initdb/pg_ctl,
redis-server); as root with apt-get, the packages are installed first.
Arguments are passed to pytest; `--stack embedded|production` runs one stack.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def say(message: str) -> None:
    print(f"run_tests: {message}", flush=True)


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_listening(port):
            return
        time.sleep(0.2)
    raise SystemExit(f"run_tests: {what} did not start listening on port {port}")


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            f"run_tests: {', '.join(packages)} not found; install them or set "
            "KAREN_TEST_DATABASE_URL / KAREN_TEST_REDIS_URL"
        )
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def start_private_postgres() -> str:
    binaries = postgres_binaries()
    if binaries is None:
        apt_install("postgresql")
        binaries = postgres_binaries()
    data = Path(tempfile.mkdtemp(prefix="karen-test-pg-"))
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = "postgres" if shutil.which("runuser") else None
        if user is None:
            raise SystemExit("run_tests: cannot start PostgreSQL as root without runuser")
        shutil.chown(data, user)
        run_as = ["runuser", "-u", user, "--"]
    say(f"starting a private PostgreSQL on port {port} ({data})")
    subprocess.run(
        [*run_as, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *run_as,
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-w",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    atexit.register(
        lambda: subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    return f"postgresql://postgres@127.0.0.1:{port}/karen"


def start_private_redis() -> str:
    server = shutil.which("redis-server")
    if server is None:
        apt_install("redis-server")
        server = shutil.which("redis-server")
    port = free_port()
    say(f"starting a private Redis on port {port}")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    wait_for(port, "Redis")
    return f"redis://127.0.0.1:{port}/15"


def database_url() -> str:
    if os.environ.get("KAREN_TEST_DATABASE_URL"):
        return os.environ["KAREN_TEST_DATABASE_URL"]
    if is_listening(5432):
        return "postgresql://postgres@127.0.0.1:5432/karen"
    return start_private_postgres()


def ensure_database(url: str) -> str:
    """Create the database named in *url* if the server lacks it (tests create test_<name> beside it)."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return url


def redis_url() -> str:
    if os.environ.get("KAREN_TEST_REDIS_URL"):
        return os.environ["KAREN_TEST_REDIS_URL"]
    if is_listening(6379):
        return "redis://127.0.0.1:6379/15"
    return start_private_redis()


def run_pytest(stack: str, env: dict[str, str], arguments: list[str]) -> int:
    say(f"=== {stack} stack ===")
    return subprocess.call([PYTHON, "-m", "pytest", *arguments], cwd=ROOT, env=env)


def main() -> int:
    arguments = sys.argv[1:]
    stacks = ["embedded", "production"]
    if "--stack" in arguments:
        index = arguments.index("--stack")
        stacks = [arguments[index + 1]]
        del arguments[index : index + 2]
    base = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    results = {}
    for stack in stacks:
        env = dict(base)
        if stack == "embedded":
            env["KAREN_VAR_DIR"] = str(ROOT / "var" / "test-embedded")
        else:
            env.update(
                DATABASE_URL=ensure_database(database_url()),
                REDIS_URL=redis_url(),
                KAREN_VAR_DIR=str(ROOT / "var" / "test-production"),
            )
        results[stack] = run_pytest(stack, env, arguments)
    for stack, code in results.items():
        say(f"{stack} stack: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
