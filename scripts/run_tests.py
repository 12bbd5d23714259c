"""Run the whole test suite: on the embedded stack, on PostgreSQL + Redis, then the fault tests.

PostgreSQL and Redis are found in this order: KAREN_TEST_DATABASE_URL /
KAREN_TEST_REDIS_URL; servers already listening on 127.0.0.1:5432 / :6379;
private instances started here from installed binaries (initdb/pg_ctl,
redis-server); as root with apt-get, the packages are installed first. The
fault tests (tests/faults) always start private instances of their own, which
they stop, restart and kill; they never touch the machine's servers.
The browser tests (tests/browser) drive Debian's Chromium at /usr/bin/chromium,
installed first as root when missing, and run in the embedded pass only.
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
# The browser tests' Chromium (Debian's package) and the font that draws the emoji of navigation items.
CHROMIUM = Path("/usr/bin/chromium")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
BROWSER_TESTS = ROOT / "tests" / "browser"

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


def ensure_browser() -> None:
    """Chromium must be installed for the browser tests: Playwright drives it, nothing is downloaded.

    The colour emoji font is optional: without it the icons of navigation items
    are empty boxes in the screenshots.
    """
    if not CHROMIUM.exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit(
                f"run_tests: {CHROMIUM} not found; the browser tests (tests/browser) drive Debian's Chromium: "
                "install it with `apt-get install chromium` (as root)"
            )
        apt_install("chromium")
    if not EMOJI_FONT.exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            say("fonts-noto-color-emoji is not installed: emoji show as empty boxes in the browser tests' screenshots")
            return
        try:
            apt_install("fonts-noto-color-emoji")
        except subprocess.CalledProcessError as error:
            say(f"fonts-noto-color-emoji could not be installed ({error}); going on without it")


def argument_path(argument: str) -> Path:
    """The file or folder a pytest argument names (`tests/x.py::test_y` names tests/x.py)."""
    return (ROOT / argument.split("::")[0]).resolve()


def may_select_browser_tests(targets: list[Path]) -> bool:
    """Whether the chosen *targets* (none: the whole suite) may include tests/browser (an option's value may)."""
    return not targets or any(
        target.is_relative_to(BROWSER_TESTS) or BROWSER_TESTS.is_relative_to(target) or not target.exists()
        for target in targets
    )


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
    stack_given = "--stack" in arguments
    if stack_given:
        index = arguments.index("--stack")
        passes = [arguments[index + 1]]
        del arguments[index : index + 2]
    # Paths given on the command line choose the tests; otherwise each pass runs its own part.
    targets = [argument_path(argument) for argument in arguments if not argument.startswith("-")]
    chosen = bool(targets)
    # The browser tests start a platform of their own on the embedded stack: the embedded pass alone runs them.
    if chosen and not stack_given and all(target.is_relative_to(BROWSER_TESTS) for target in targets):
        passes = ["embedded"]
    ensure_server_binaries()
    if "embedded" in passes and may_select_browser_tests(targets):
        ensure_browser()
    base = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
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
            selection = ["--deselect=tests/browser"] if chosen else ["--ignore=tests/faults", "--ignore=tests/browser"]
        else:
            # Each fault test starts its own PostgreSQL and Redis (it stops, restarts and kills them).
            env["KAREN_VAR_DIR"] = str(ROOT / "var" / "test-faults")
            selection = ["--deselect=tests/browser"] if chosen else ["tests/faults"]
        results[name] = run_pytest(name, env, [*arguments, *selection])
    for name, code in results.items():
        say(f"{name}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
