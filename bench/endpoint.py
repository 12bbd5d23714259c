"""Cost of a mounted extension endpoint against a static DRF view with the same token auth, over real HTTP.

    cd /work/main && .venv/bin/python bench/endpoint.py [--quick] [--stack embedded|production]

One gunicorn (`karen.wsgi:application`, 2 sync workers, settings
`bench.endpoint_settings`) serves both views side by side in the same run:

- `/api/extensions/hello-extension/hello`: the shipped hello extension's route,
  mounted by the platform (registry look-up, route table, the route's access rule);
- `/bench/static`: a plain DRF APIView (bench/endpoint_urls.py) with the
  project's default authentication classes and throttles, `IsAuthenticated`,
  answering the same JSON shape.

Setup, all through the project's commands against a fresh KAREN_VAR_DIR:
`manage.py migrate`, `manage.py extensions discover` (loads the shipped
extensions), `manage.py shell -c` to create a superuser and an RBAC user (group
"user" + `use_extension` on hello-extension via `extensions_core.permissions.grant`),
and `manage.py tokens create USERNAME --no-expiry` for each. Throttle rates are
raised so they never trigger (KAREN_THROTTLE_USER / KAREN_THROTTLE_ANON), but the
throttle classes still run on both views: one cache read and write per request
of the list of all request times of the last minute, a cost that grows with the
requests already made. So the throttle history is emptied before every wrk run;
`--throttles off` drops the throttle classes (KAREN_BENCH_THROTTLES=off, read by
bench/endpoint_settings.py) to show the extension machinery's cost alone.

Load: `wrk -t2 -c8 --latency` with `Authorization: Token ...`, one run per view,
interleaved (static, extension, then extension, static: ABBA), 2 rounds of
10 s each (`--quick`: 3 s, RBAC user only; about 25 s in all, of which the
setup through manage.py takes about 8 s), after an untimed warm-up. The median
req/s and latency p50/p99 of the rounds are reported. wrk runs on the same 2
cores as the 2 gunicorn workers, so absolute figures are lower than a separate
load machine would show; the ratio is the figure to compare.

Queries per request: in-process through django.test.Client and
CaptureQueriesContext, after a warm-up request, for both users. The periodic
change check of RegistrySyncMiddleware (one query per process per 0.2 s, the same
on both views) is kept out of the counted requests by marking it as just done.

Time per request in process (no target): the same Client, 500 requests per
view and user (200 with `--quick`) in interleaved blocks of 100, with the server
idle. No load generator shares the cores, so this difference of medians is the
steadier measure of what the extension machinery adds; the req/s ratio of the
HTTP runs moves by +-10% between runs on 2 shared cores.

Targets: extension req/s >= 0.9 x static req/s; extension queries <= static + 1.

`--stack production` runs the same on PostgreSQL (a fresh database on
127.0.0.1:5432, created and dropped here) and Redis (127.0.0.1:6379/14, as the
cache holding the throttle counters, under a key prefix of this run, deleted at
the end).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

ROOT = _common.ROOT
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
SETTINGS = "bench.endpoint_settings"
STATIC = "/bench/static"
EXTENSION = "/api/extensions/hello-extension/hello"
VIEWS = {"static": STATIC, "extension": EXTENSION}
USERS = {"superuser": "bench-admin", "rbac": "bench-user"}
IN_PROCESS_BLOCK = 100
TARGET_RPS_RATIO = 0.9
TARGET_EXTRA_QUERIES = 1
WORKERS = 2
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"
THROTTLE_RATE = "100000000/min"
# Environment that would move the figures away from the defaults this bench measures.
CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "DATABASE_CONN_MAX_AGE",
    "KAREN_CHANGE_CHECK_INTERVAL_SECONDS",
    "KAREN_EXTENSION_DIRS",
    "KAREN_AUTO_ENABLE_DISCOVERED",
    "KAREN_CACHE_PREFIX",
    "KAREN_BENCH_THROTTLES",
)

USER_SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from extensions_core.models import Extension
from extensions_core.permissions import grant

users = get_user_model()
users.objects.create_superuser("{admin}", "{admin}@example.invalid", "bench-password-1")
user = users.objects.create_user("{user}", "{user}@example.invalid", "bench-password-2")
user.groups.add(Group.objects.get_or_create(name="user")[0])
grant(user, "use_extension", Extension.objects.get(name="hello-extension"))
"""


# --- setup -------------------------------------------------------------------------


def bench_env(
    var_dir: Path, database_url: str | None, redis_url: str | None, cache_prefix: str, throttles: str = "on"
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        KAREN_BENCH_THROTTLES=throttles,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        KAREN_VAR_DIR=str(var_dir),
        KAREN_THROTTLE_USER=THROTTLE_RATE,
        KAREN_THROTTLE_ANON=THROTTLE_RATE,
        KAREN_ENTRY_POINTS="false",
        LOG_LEVEL="WARNING",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["KAREN_CACHE_PREFIX"] = cache_prefix
    return env


def manage(env: dict[str, str], *arguments: str) -> str:
    """Run `manage.py *arguments*`; return its stdout, or stop with its stderr."""
    done = subprocess.run(
        [PYTHON, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def setup_platform(env: dict[str, str]) -> dict[str, str]:
    """Migrate, discover and load the extensions, create the two users; return {user kind: token}."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "extensions", "discover")  # wait_ready() checks that hello-extension's route answers
    manage(env, "shell", "-c", USER_SETUP.format(admin=USERS["superuser"], user=USERS["rbac"]))
    with ThreadPoolExecutor(max_workers=len(USERS)) as pool:
        created = pool.map(lambda name: manage(env, "tokens", "create", name, "--no-expiry"), USERS.values())
        return {kind: output.split()[-1] for kind, output in zip(USERS, created, strict=True)}


def create_database() -> tuple[str, str]:
    import psycopg

    name = f"karen_bench_endpoint_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{POSTGRES}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_cache_keys(prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


# --- queries per request (in process) ----------------------------------------------


class ThrottleHistory:
    """The throttle history of the bench users in the shared cache: its length, and a reset.

    DRF's throttles keep the time of every request of the last window (here a
    minute) in the cache and rewrite that list on every request, so their cost
    grows with the requests already made. Each wrk run starts from an empty
    history, so every run pays the same, whatever its place in the order.
    """

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.cache import cache
        from rest_framework.throttling import UserRateThrottle

        throttle = UserRateThrottle()
        users = get_user_model().objects.filter(username__in=USERS.values()).values_list("username", "pk")
        by_name = {name: throttle.cache_format % {"scope": throttle.scope, "ident": pk} for name, pk in users}
        self.keys = {kind: by_name[name] for kind, name in USERS.items()}
        self.cache = cache

    def reset(self) -> None:
        self.cache.delete_many(list(self.keys.values()))

    def length(self, kind: str) -> int:
        return len(self.cache.get(self.keys[kind]) or [])


def count_queries(env: dict[str, str], tokens: dict[str, str], repeats: int = 3) -> dict[str, dict[str, dict]]:
    """Return {user kind: {view: {"counts": [...], "sql": [...]}}} from django.test.Client."""
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from extensions_core.registry import registry

    figures: dict[str, dict[str, dict]] = {}
    for kind, token in tokens.items():
        client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
        figures[kind] = {}
        for view, url in VIEWS.items():
            warm = client.get(url)
            if warm.status_code != 200:
                raise SystemExit(f"in-process GET {url} as {kind} answered {warm.status_code}: {warm.content[:300]!r}")
            counts, sql = [], []
            for _ in range(repeats):
                registry.last_checked = time.monotonic()  # the periodic change check is not due
                with CaptureQueriesContext(connection) as captured:
                    response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"in-process GET {url} as {kind} answered {response.status_code}")
                counts.append(len(captured.captured_queries))
                sql = [query["sql"] for query in captured.captured_queries]
            figures[kind][view] = {"counts": counts, "sql": sql}
    connection.close()
    return figures


def time_in_process(tokens: dict[str, str], per_view: int, throttle_history: ThrottleHistory) -> dict:
    """Return {user kind: {view: [seconds per request]}}: django.test.Client, interleaved blocks.

    No server and no load generator: the CPU cost of one request through the
    full middleware and DRF stack, the difference between the views being the
    extension machinery's cost. The throttle history is emptied before each block.
    """
    from django.db import connection
    from django.test import Client

    clients = {
        kind: Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1") for kind, token in tokens.items()
    }
    samples: dict[str, dict[str, list[float]]] = {kind: {view: [] for view in VIEWS} for kind in tokens}
    clock = time.perf_counter_ns
    while any(len(values) < per_view for views in samples.values() for values in views.values()):
        for kind, client in clients.items():
            for view, url in VIEWS.items():
                throttle_history.reset()
                values = samples[kind][view]
                for _ in range(min(IN_PROCESS_BLOCK, per_view - len(values))):
                    start = clock()
                    client.get(url)
                    values.append((clock() - start) / 1e9)
    connection.close()
    return samples


# --- HTTP server and load ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [
        GUNICORN,
        "karen.wsgi:application",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(base: str, url: str, token: str) -> tuple[int, dict | None]:
    request = urllib.request.Request(base + url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_ready(base: str, tokens: dict[str, str], process: subprocess.Popen, log: Path) -> None:
    """Wait until both views answer 200 to both users, with the same JSON keys."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            answers = {
                (kind, view): get(base, url, token) for kind, token in tokens.items() for view, url in VIEWS.items()
            }
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer within 30 s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)
    for (kind, view), (status, _) in answers.items():
        if status != 200:
            raise SystemExit(f"GET {VIEWS[view]} as {kind} answered {status}:\n{log.read_text()[-3000:]}")
    for kind in tokens:
        static_keys, extension_keys = (sorted(answers[(kind, view)][1]) for view in VIEWS)
        if static_keys != extension_keys:
            raise SystemExit(f"the views answer different shapes: {static_keys} vs {extension_keys}")


def warm_up(base: str, tokens: dict[str, str], log: Path, per_url: int = 40) -> None:
    """Untimed concurrent requests, so both workers have synced their registry and cached access."""
    jobs = [(url, token) for token in tokens.values() for url in VIEWS.values()] * per_url
    with ThreadPoolExecutor(max_workers=8) as pool:
        for status, _ in pool.map(lambda job: get(base, *job), jobs):
            if status != 200:
                raise SystemExit(f"warm-up request answered {status}; gunicorn log:\n{log.read_text()[-4000:]}")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(base: str, url: str, token: str, *, seconds: int, threads: int, connections: int) -> dict:
    """Run wrk once; return req/s, latency p50/p99 (ms), requests and errors."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Authorization: Token {token}",
        base + url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    latency = {
        match[1]: float(match[2]) * UNITS[match[3]]
        for match in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    }
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if not rps or "50" not in latency or "99" not in latency:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    return {
        "rps": float(rps[1]),
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "requests": int(total[1]) if total else 0,
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": sum(int(value) for value in socket_errors.groups()) if socket_errors else 0,
    }


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per wrk run, RBAC user only (about 25 s)")
    parser.add_argument(
        "--stack",
        choices=["embedded", "production"],
        default="embedded",
        help="embedded: SQLite + file cache (default); production: PostgreSQL + Redis on 127.0.0.1",
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, --quick 3)")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per view and user (default 2)")
    parser.add_argument(
        "--users",
        choices=["both", "superuser", "rbac"],
        help="whose token drives the load (default both, --quick rbac)",
    )
    parser.add_argument(
        "--throttles",
        choices=["on", "off"],
        default="on",
        help="on: DRF's default throttles run on both views, rates raised so they never trigger (default); "
        "off: no throttle classes (KAREN_BENCH_THROTTLES=off), the extension machinery's cost alone",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    args = parser.parse_args()
    seconds = args.duration or (3 if args.quick else 10)
    load_users = {"both": list(USERS), "superuser": ["superuser"], "rbac": ["rbac"]}[
        args.users or ("rbac" if args.quick else "both")
    ]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    started = time.perf_counter()
    var_dir = _common.temp_dir("karen-bench-endpoint-")
    (var_dir / "static").mkdir()
    cache_prefix = f"karen-bench-endpoint-{os.getpid()}"
    database_name = database_url = redis_url = None
    process = None
    try:
        if args.stack == "production":
            database_name, database_url = create_database()
            redis_url = REDIS
        env = bench_env(var_dir, database_url, redis_url, cache_prefix, args.throttles)
        tokens = setup_platform(env)
        setup_seconds = time.perf_counter() - started

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = var_dir / "gunicorn.log"
        process = start_gunicorn(env, port, log)
        queries = count_queries(env, tokens)  # while gunicorn boots
        throttle_history = ThrottleHistory()
        wait_ready(base, tokens, process, log)
        timings = time_in_process(tokens, 200 if args.quick else 500, throttle_history)  # server idle
        warm_up(base, {kind: tokens[kind] for kind in load_users}, log)

        runs: dict[tuple[str, str], list[dict]] = {(kind, view): [] for kind in load_users for view in VIEWS}
        load_started = time.perf_counter()
        for round_index in range(args.rounds):
            order = list(VIEWS) if round_index % 2 == 0 else list(reversed(VIEWS))  # ABBA
            for kind in load_users:
                for view in order:
                    time.sleep(0.25)  # requests still in flight from the last run write their history back
                    throttle_history.reset()
                    run = run_wrk(
                        base,
                        VIEWS[view],
                        tokens[kind],
                        seconds=seconds,
                        threads=args.threads,
                        connections=args.connections,
                    )
                    run["throttle_history"] = throttle_history.length(kind)
                    runs[(kind, view)].append(run)
        load_seconds = time.perf_counter() - load_started
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited during the load:\n{log.read_text()[-3000:]}")
        server_errors = [line for line in log.read_text().splitlines() if "ERROR" in line or "Traceback" in line]
    finally:
        if process is not None:
            stop_gunicorn(process)
        if database_name:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django may not be set up yet
                pass
            drop_database(database_name)
        if redis_url:
            delete_cache_keys(cache_prefix)

    # --- report ---
    stack = (
        "PostgreSQL 127.0.0.1:5432 (fresh database) + Redis 127.0.0.1:6379/14 cache"
        if args.stack == "production"
        else "embedded: SQLite WAL + file-based cache"
    )
    print(f"Extension endpoint vs static DRF view ({_common.machine()}); stack: {stack}")
    print(
        f"gunicorn karen.wsgi:application --workers {WORKERS} (sync), DJANGO_SETTINGS_MODULE={SETTINGS}; "
        f"wrk -t{args.threads} -c{args.connections} -d{seconds}s --latency, {args.rounds} runs per view and user, "
        f"interleaved ABBA; setup {setup_seconds:.1f} s, load {load_seconds:.1f} s"
    )
    print(
        f"NOTE: wrk shares the {os.cpu_count()} cores with the {WORKERS} gunicorn workers, so absolute req/s are "
        "lower than with a separate load machine; compare the ratio. DESIGN.md §9 (raw, same 2 cores): "
        "DRF APIView + token auth 2,474 req/s."
    )
    if args.throttles == "on":
        print(
            f"Throttles: on (DRF defaults, rates {THROTTLE_RATE}, history emptied before each run); their "
            "per-request cost grows with the requests of the last minute and applies to both views. "
            "`--throttles off` shows the extension machinery alone."
        )
    else:
        print("Throttles: off (KAREN_BENCH_THROTTLES=off: no throttle classes on either view).")
    print(
        f"  static:    GET {STATIC}  (DRF APIView, default authentication"
        f"{' and throttles' if args.throttles == 'on' else ''}, IsAuthenticated)"
    )
    print(f"  extension: GET {EXTENSION}  (mounted route, manifest rule: use_extension + role 'user')")
    print(
        f"  users: superuser {USERS['superuser']!r}; RBAC user {USERS['rbac']!r} (group 'user', use_extension on "
        "hello-extension)\n"
    )

    rows = []
    summary: dict[tuple[str, str], dict] = {}
    for (kind, view), items in runs.items():
        figures = {
            "rps": _common.median(item["rps"] for item in items),
            "p50_ms": _common.median(item["p50_ms"] for item in items),
            "p99_ms": _common.median(item["p99_ms"] for item in items),
            "non_2xx": sum(item["non_2xx"] for item in items),
            "socket_errors": sum(item["socket_errors"] for item in items),
        }
        summary[(kind, view)] = figures
        rows.append(
            [
                kind,
                view,
                *(f"{item['rps']:,.0f}" for item in items),
                f"{figures['rps']:,.0f}",
                f"{figures['p50_ms']:.2f}",
                f"{figures['p99_ms']:.2f}",
                figures["non_2xx"],
                figures["socket_errors"],
                *((" / ".join(f"{item['throttle_history']:,}" for item in items),) if args.throttles == "on" else ()),
            ]
        )
    _common.table(
        rows,
        [
            "user",
            "view",
            *(f"run {index + 1} req/s" for index in range(args.rounds)),
            "median req/s",
            "p50 ms",
            "p99 ms",
            "non-2xx",
            "socket errors",
            *(("throttle history after each run",) if args.throttles == "on" else ()),
        ],
    )
    if server_errors:
        print(f"\ngunicorn logged {len(server_errors)} error line(s), first: {server_errors[0]}")

    print(
        "\nTime per request in process (django.test.Client, no server, no wrk; interleaved blocks of "
        f"{IN_PROCESS_BLOCK}, throttle history emptied before each block):"
    )
    time_rows = []
    in_process = {}
    for kind, views in timings.items():
        static_median, extension_median = (_common.median(views[view]) for view in VIEWS)
        in_process[kind] = {
            "static_median_ms": round(static_median * 1e3, 4),
            "extension_median_ms": round(extension_median * 1e3, 4),
            "extra_ms": round((extension_median - static_median) * 1e3, 4),
        }
        time_rows.append(
            [
                kind,
                len(views["static"]),
                *(
                    f"{_common.median(views[view]) * 1e3:.3f} / {_common.percentile(views[view], 0.99) * 1e3:.3f}"
                    for view in VIEWS
                ),
                f"{(extension_median - static_median) * 1e3:+.3f}",
                f"{static_median / extension_median:.3f}",
            ]
        )
    _common.table(
        time_rows,
        [
            "user",
            "requests per view",
            "static median / p99 ms",
            "extension median / p99 ms",
            "extension - static ms",
            "implied extension / static req/s",
        ],
    )

    print("\nQueries per request (django.test.Client + CaptureQueriesContext, after a warm-up request):")
    query_rows = []
    for kind, views in queries.items():
        static_counts, extension_counts = views["static"]["counts"], views["extension"]["counts"]
        query_rows.append(
            [
                kind,
                " ".join(map(str, static_counts)),
                " ".join(map(str, extension_counts)),
                f"{max(extension_counts) - max(static_counts):+d}",
            ]
        )
    _common.table(query_rows, ["user", "static (3 requests)", "extension (3 requests)", "difference"])
    for kind, views in queries.items():
        for view in VIEWS:
            for sql in views[view]["sql"]:
                print(f"  {kind:9} {view:9} {sql[:150]}")

    print()
    verdict_rows = []
    verdicts = {}
    ratios = {}
    for kind in load_users:
        ratio = summary[(kind, "extension")]["rps"] / summary[(kind, "static")]["rps"]
        ratios[kind] = ratio
        verdicts[f"rps_{kind}"] = "PASS" if ratio >= TARGET_RPS_RATIO else "MISS"
        verdict_rows.append(
            [f"extension / static req/s, {kind}", f"{ratio:.3f}", f">= {TARGET_RPS_RATIO}", verdicts[f"rps_{kind}"]]
        )
    for kind, views in queries.items():
        extra = max(views["extension"]["counts"]) - max(views["static"]["counts"])
        verdicts[f"queries_{kind}"] = _common.verdict(extra, TARGET_EXTRA_QUERIES)
        verdict_rows.append(
            [
                f"extension - static queries, {kind}",
                f"{extra:+d}",
                f"<= +{TARGET_EXTRA_QUERIES}",
                verdicts[f"queries_{kind}"],
            ]
        )
    _common.table(verdict_rows, ["figure", "value", "target", "verdict"])
    failures = sum(item["non_2xx"] + item["socket_errors"] for item in summary.values())
    if failures:
        print(f"\nWARNING: {failures} non-2xx responses or socket errors during the load; the req/s include them.")

    _common.result(
        {
            "bench": "endpoint",
            "stack": args.stack,
            "throttles": args.throttles,
            "workers": WORKERS,
            "wrk": {
                "threads": args.threads,
                "connections": args.connections,
                "seconds": seconds,
                "rounds": args.rounds,
            },
            "rps": {f"{kind}/{view}": round(item["rps"], 1) for (kind, view), item in summary.items()},
            "p50_ms": {f"{kind}/{view}": round(item["p50_ms"], 3) for (kind, view), item in summary.items()},
            "p99_ms": {f"{kind}/{view}": round(item["p99_ms"], 3) for (kind, view), item in summary.items()},
            "rps_ratio": {kind: round(value, 4) for kind, value in ratios.items()},
            "queries": {
                f"{kind}/{view}": max(views[view]["counts"]) for kind, views in queries.items() for view in VIEWS
            },
            "non_2xx_or_socket_errors": failures,
            "in_process": in_process,
            "target_rps_ratio": TARGET_RPS_RATIO,
            "target_extra_queries": TARGET_EXTRA_QUERIES,
            "verdicts": verdicts,
        }
    )


if __name__ == "__main__":
    main()
