"""Run the whole test suite: on the embedded stack, on PostgreSQL + Redis, then the fault tests.

PostgreSQL and Redis are found in this order: KAREN_TEST_DATABASE_URL /
KAREN_TEST_REDIS_URL; servers already listening on 127.0.0.1:5432 / :6379;
private instances started here from installed binaries (initdb/pg_ctl,
redis-server); as root with apt-get, the packages are installed first. The
fault tests (tests/faults) always start private instances of their own, which
they stop, restart and kill; they never touch the machine's servers.
Arguments are passed to pytest; `--stack embedded|production|faults` runs one pass.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))

from tests import servers  # noqa: E402 - needs the project root on the path


def say(message: str) -> None:
    print(f"run_tests: {message}", flush=True)


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


def ensure_server_binaries() -> None:
    """PostgreSQL and Redis must be installed: the fault tests start private instances of both."""
    missing = []
    if servers.postgres_binaries() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if missing:
        apt_install(*missing)


def start_private_postgres() -> str:
    server = servers.PrivatePostgres().start()
    atexit.register(server.cleanup)
    say(f"started a private PostgreSQL on port {server.port} ({server.data})")
    return server.url("karen")


def start_private_redis() -> str:
    server = servers.PrivateRedis().start()
    atexit.register(server.cleanup)
    say(f"started a private Redis on port {server.port}")
    return server.url(15)


def database_url() -> str:
    if os.environ.get("KAREN_TEST_DATABASE_URL"):
        return os.environ["KAREN_TEST_DATABASE_URL"]
    if servers.is_listening(5432):
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
    if servers.is_listening(6379):
        return "redis://127.0.0.1:6379/15"
    return start_private_redis()


def run_pytest(stack: str, env: dict[str, str], arguments: list[str]) -> int:
    say(f"=== {stack} ===")
    return subprocess.call([PYTHON, "-m", "pytest", *arguments], cwd=ROOT, env=env)


def main() -> int:
    arguments = sys.argv[1:]
    passes = ["embedded", "production", "faults"]
    if "--stack" in arguments:
        index = arguments.index("--stack")
        passes = [arguments[index + 1]]
        del arguments[index : index + 2]
    ensure_server_binaries()
    base = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    # Paths given on the command line choose the tests; otherwise each pass runs its own part.
    chosen = any(not argument.startswith("-") for argument in arguments)
    results = {}
    for name in passes:
        env = dict(base)
        if name == "embedded":
            env["KAREN_VAR_DIR"] = str(ROOT / "var" / "test-embedded")
            selection = [] if chosen else ["--ignore=tests/faults"]
        elif name == "production":
            env.update(
                DATABASE_URL=ensure_database(database_url()),
                REDIS_URL=redis_url(),
                KAREN_VAR_DIR=str(ROOT / "var" / "test-production"),
            )
            selection = [] if chosen else ["--ignore=tests/faults"]
        else:
            # Each fault test starts its own PostgreSQL and Redis (it stops, restarts and kills them).
            env["KAREN_VAR_DIR"] = str(ROOT / "var" / "test-faults")
            selection = [] if chosen else ["tests/faults"]
        results[name] = run_pytest(name, env, [*arguments, *selection])
    for name, code in results.items():
        say(f"{name}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
