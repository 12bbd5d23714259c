"""Background tasks on the platform against raw Celery, side by side on the same Redis and PostgreSQL.

    cd /work/main && .venv/bin/python bench/tasks.py [--quick] [--only throughput,backlog,beat,events,list,sigkill]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379;
creates a fresh database and uses Redis db 13 (flushed). One Celery worker at a
time, prefork with 2 processes (the machine has 2 cores), so raw and platform
runs never share the CPU.

- throughput: N runs of a task that writes one row. Raw: `bench/raw_celery.py`
  (bare Celery, a kept psycopg connection). Platform: `execution_start()` per
  run (row + publish after commit), isolated (a forked child per run, which
  opens its own database connection) and in process (`"isolated": false`).
  Figures: runs/s from the first send until the last row, ratio to raw
  (targets: isolated >= 0.3x, in process >= 0.6x), and latency p50/p99 from
  send to finish.
- beat: a 1 s interval schedule, for 30 s (quick: 12 s), platform beat
  (DatabaseScheduler rows from a task definition) vs raw beat (static
  schedule); lag = gap between consecutive starts minus the 1 s interval
  (target p99 <= 1 s).
- events: emit one event at a time; emit to execution start (target p50 <= 50 ms).
- list: 1,000,000 execution rows (quick: 200,000); GET
  /api/extensions/background-tasks/executions first page, filters and a cursor
  page, in process with token auth, p95 per query (target <= 100 ms); raw: the
  same page as one SQL query.
- sigkill: 50 runs of a 2 s task on a worker with 4 processes; SIGKILL the
  worker's main process while 4 run, start a new worker; time until all 50 are
  terminal (target <= 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/13"
BENCH = Path(__file__).resolve().parent
EXTENSION = "bench-tasks"
MANIFEST = {
    "name": EXTENSION,
    "version": "1.0.0",
    "display_name": "Bench tasks",
    "description": "Tasks for bench/tasks.py",
    "author": "Karen bench",
    "license": "MIT",
    "category": "testing",
    "background_tasks": [
        {"name": "write_row", "function": "write_row"},
        {"name": "write_row_in_process", "function": "write_row", "isolated": False},
        {"name": "tick", "function": "write_row", "interval_seconds": 1, "enabled": False, "isolated": False},
        {"name": "on_ping", "function": "write_row", "isolated": False, "triggers": [{"event": "bench.ping"}]},
        {"name": "nap", "function": "nap", "isolated": False},
    ],
}
CODE = """
import time

from django.db import connection

from extensions_core.sdk import BaseExtension


class BenchTasks(BaseExtension):
    def write_row(self, context, n=0):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_karen (n) VALUES (%s)", [n])
        return n

    def nap(self, context, seconds=2.0):
        time.sleep(seconds)
        return seconds
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="throughput,backlog,beat,events,list,sigkill")
    args = parser.parse_args()
    parts = set(args.only.split(","))

    import psycopg
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    name = f"karen_bench_tasks_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{POSTGRES}/{name}"
    figures: dict = {}
    try:
        _common.setup_django(env=environment(database_url, REDIS))
        prepare(database_url)
        from extensions_core.broker import broker_lost_messages

        # Redis db 13 was just flushed, so the broker epoch key is missing: the first worker to look would take
        # the broker for one restarted without persistence and send every pending run again. Set it first, as a
        # running deployment's broker has it.
        broker_lost_messages()
        print(f"Background tasks vs raw Celery ({_common.machine()}); PostgreSQL + Redis")
        if "throughput" in parts:
            figures["throughput"] = throughput(300 if args.quick else 2000)
        if "backlog" in parts:
            figures["backlog"] = backlog(2000 if args.quick else 10_000)
        if "events" in parts:
            figures["events"] = events(50 if args.quick else 200)
        if "beat" in parts:
            figures["beat"] = beat(12 if args.quick else 30)
        if "sigkill" in parts:
            figures["sigkill"] = sigkill()
        if "list" in parts:
            figures["list"] = listing(200_000 if args.quick else 1_000_000, database_url)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _common.result(figures)


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    """Write the bench extension to a temporary folder; return the environment of the platform and raw Celery.

    Both use *database_url* and *redis_url*; pass the result to `_common.setup_django(env=...)`, whose
    environment the workers started afterwards inherit.
    """
    extensions = _common.temp_dir("karen-bench-tasks-ext-")
    (extensions / EXTENSION).mkdir()
    (extensions / EXTENSION / "extension.json").write_text(json.dumps(MANIFEST))
    (extensions / EXTENSION / "__init__.py").write_text(CODE)
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KAREN_EXTENSION_DIRS": str(extensions),
        "RAW_BROKER_URL": redis_url,
        "RAW_DATABASE_URL": database_url,
        "LOG_LEVEL": "ERROR",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    }


def prepare(database_url: str) -> None:
    from django.db import connection

    from extensions_core.services import extension_discover

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_raw (n integer, sent double precision, started double precision, done double precision)"
        )
        cursor.execute("CREATE TABLE bench_karen (n integer)")
    extension_discover(load_new=True)


def start_worker(app: str, concurrency: int = 2) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "ERROR",
        "-n",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    process = subprocess.Popen(
        command,
        cwd=BENCH if app == "raw_celery" else _common.ROOT,
        env={**os.environ, "PYTHONPATH": f"{_common.ROOT}:{BENCH}"},
    )
    time.sleep(4)  # boot and fork the pool before the clock starts
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(check, limit: float, every: float = 0.01) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every)
    raise SystemExit(f"gave up after {limit} s")


# --- throughput ----------------------------------------------------------------------------------

PRODUCERS = 4


def produce(send, n: int) -> list:
    """Call send(index) for index in range(n) from PRODUCERS threads (clients of a real system are many)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def batch(indexes) -> list:
        try:
            return [send(index) for index in indexes]
        finally:
            connection.close()

    with ThreadPoolExecutor(PRODUCERS) as pool:
        parts = pool.map(batch, [range(start, n, PRODUCERS) for start in range(PRODUCERS)])
    return [item for part in parts for item in part]


def raw_run(n: int, offset: int) -> dict:
    from django.db import connection
    from raw_celery import write_row

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_raw WHERE n >= %s AND n < %s", [offset, offset + n])
            return cursor.fetchone()[0]

    started = time.monotonic()
    produce(lambda index: write_row.delay(offset + index, time.time()), n)
    ended = wait_for(lambda: count() >= n, 300)
    with connection.cursor() as cursor:
        cursor.execute("SELECT done - sent FROM bench_raw WHERE n >= %s AND n < %s", [offset, offset + n])
        latencies = [row[0] for row in cursor.fetchall()]
    return {"per_second": n / (ended - started), "latencies": latencies}


def karen_run(n: int, task: str, ready=None) -> dict:
    """Send n runs of *task* from PRODUCERS threads and wait until all are completed.

    The wait polls every 10 ms whether `rows.filter(status="completed").count() >= n`; a caller may pass
    *ready* (no arguments), a cheaper check that must hold first, so that check is made only once it does.
    """
    from extensions_core.models import TaskDefinition, TaskExecution
    from extensions_core.services.executions import execution_start

    definition = TaskDefinition.objects.select_related("extension").get(extension__name=EXTENSION, name=task)
    started = time.monotonic()
    ids = produce(
        lambda index: execution_start(definition=definition, trigger_type="manual", parameters={"n": index}).pk, n
    )
    sent = time.monotonic() - started
    rows = TaskExecution.objects.filter(pk__in=ids)
    ended = wait_for(lambda: (ready is None or ready()) and rows.filter(status="completed").count() >= n, 600)
    failed = rows.exclude(status="completed").count()
    latencies = [(row.finished_at - row.queued_at).total_seconds() for row in rows.only("finished_at", "queued_at")]
    runs = [(row.finished_at - row.started_at).total_seconds() for row in rows.only("finished_at", "started_at")]
    print(
        f"  {task}: {n} starts took {sent:.2f} s ({n / sent:,.0f}/s); run p50 "
        f"{_common.percentile(runs, 0.5) * 1000:.1f} ms; not completed: {failed}"
    )
    return {"per_second": n / (ended - started), "latencies": latencies, "not_completed": failed}


def raw_drain(n: int, offset: int) -> float:
    """Runs/s of a worker draining n queued raw runs: first start to last finish (boot excluded)."""
    from django.db import connection
    from raw_celery import write_row

    produce(lambda index: write_row.delay(offset + index, time.time()), n)
    _common.machine_cpu.start()
    worker = start_worker("raw_celery")
    try:
        with connection.cursor() as cursor:
            query = "SELECT count(*), min(started), max(done) FROM bench_raw WHERE n >= %s AND n < %s"
            wait_for(lambda: cursor.execute(query, [offset, offset + n]) or cursor.fetchone()[0] >= n, 300, every=0.2)
            cursor.execute(query, [offset, offset + n])
            _, first, last = cursor.fetchone()
    finally:
        stop(worker)
    _common.cpu_per_run["raw"] = _common.machine_cpu.per_run(first, last, n)
    return n / (last - first)


# Per task, of its last drain: runs the reaper sent again (a message still queued must not be resent) and the
# longest time a run waited from its send to its start.
drains: dict[str, dict] = {}


def karen_drain(n: int, task: str) -> float:
    """Runs/s of a worker draining n queued platform runs: first start to last finish (boot excluded)."""
    from django.db.models import Max, Min

    from extensions_core.models import TaskDefinition, TaskExecution
    from extensions_core.services.executions import execution_start

    definition = TaskDefinition.objects.select_related("extension").get(extension__name=EXTENSION, name=task)
    ids = produce(
        lambda index: execution_start(definition=definition, trigger_type="manual", parameters={"n": index}).pk, n
    )
    rows = TaskExecution.objects.filter(pk__in=ids)
    waiting = TaskExecution.objects.filter(task_name=task, status__in=["pending", "running"])
    _common.machine_cpu.start()
    worker = start_worker("karen")
    try:
        wait_for(lambda: not waiting.exists(), 600, every=0.2)
    finally:
        stop(worker)
    span = rows.aggregate(first=Min("started_at"), last=Max("finished_at"))
    resent = rows.filter(dispatch_count__gt=1).count()
    longest = max(started - sent for started, sent in rows.values_list("started_at", "queued_at"))
    drains[task] = {"resent": resent, "longest_wait": longest.total_seconds()}
    cpu = _common.cpu_per_run[task] = _common.machine_cpu.per_run(
        span["first"].timestamp(), span["last"].timestamp(), n
    )
    print(
        f"  {task}: drained {n} in {(span['last'] - span['first']).total_seconds():.1f} s"
        + (f" ({cpu:.2f} ms of machine CPU per run)" if cpu is not None else "")
        + f"; resent by the reaper: {resent}"
    )
    return n / (span["last"] - span["first"]).total_seconds()


def throughput(n: int) -> dict:
    drained = {
        "raw Celery": raw_drain(n, 20_000_000),
        "platform, in process": karen_drain(n, "write_row_in_process"),
        "platform, isolated": karen_drain(n, "write_row"),
    }
    results = {}
    worker = start_worker("raw_celery")
    try:
        raw_run(100, 10_000_000)  # warm-up
        results["raw Celery"] = raw_run(n, 0)
    finally:
        stop(worker)
    worker = start_worker("karen")
    try:
        karen_run(100, "write_row_in_process")  # warm-up
        results["platform, in process"] = karen_run(n, "write_row_in_process")
        results["platform, isolated"] = karen_run(n, "write_row")
    finally:
        stop(worker)
    raw = results["raw Celery"]["per_second"]
    rows = []
    summary = {}
    for label, run in results.items():
        ratio = run["per_second"] / raw
        target = {"platform, isolated": 0.3, "platform, in process": 0.6}.get(label)
        drain = drained[label] / drained["raw Celery"]
        rows.append(
            [
                label,
                f"{run['per_second']:,.0f}/s",
                f"{ratio:.2f}x",
                f"{drained[label]:,.0f}/s",
                f"{drain:.2f}x",
                _common.ms(_common.percentile(run["latencies"], 0.5)),
                _common.ms(_common.percentile(run["latencies"], 0.99)),
                f">= {target}x {'PASS' if ratio >= target else 'MISS'}" if target else "-",
            ]
        )
        summary[label] = {
            "per_second": round(run["per_second"], 1),
            "ratio": round(ratio, 3),
            "drain_per_second": round(drained[label], 1),
            "drain_ratio": round(drain, 3),
            "p50_ms": round(_common.percentile(run["latencies"], 0.5) * 1000, 2),
            "p99_ms": round(_common.percentile(run["latencies"], 0.99) * 1000, 2),
        }
    print(
        f"\nManual runs of a task that writes one row, {n} runs sent by {PRODUCERS} client threads, "
        "1 worker x 2 processes"
    )
    _common.table(
        rows,
        ["", "end to end", "vs raw", "worker drain", "vs raw", "latency p50", "latency p99", "target (end to end)"],
    )
    print(
        "  end to end: clients sending while the worker runs (send to last finish); worker drain: the same runs "
        "queued first, then one worker started (first start to last finish)"
    )
    return summary


def backlog(n: int) -> dict:
    """A backlog longer than the reaper's 30 s resend delay: n isolated runs queued, then one worker drains them."""
    from extensions_core.services.reaping import REDISPATCH_AFTER

    print(f"\nA backlog of {n:,} runs (isolated) queued first, then 1 worker x 2 processes")
    per_second = karen_drain(n, "write_row")
    report = drains["write_row"]
    print(
        f"  the last run waited {report['longest_wait']:.0f} s from its send to its start (the reaper resends after "
        f"{REDISPATCH_AFTER.total_seconds():.0f} s); resent by the reaper: {report['resent']} (target 0)"
    )
    return {
        "runs": n,
        "drain_per_second": round(per_second, 1),
        "longest_wait_seconds": round(report["longest_wait"], 1),
        "resent": report["resent"],
    }


# --- events --------------------------------------------------------------------------------------


def events(n: int) -> dict:
    from extensions_core.models import TaskExecution
    from extensions_core.services.events import event_emit

    worker = start_worker("karen")
    try:
        delays = []
        for index in range(n):
            event = event_emit(event_type="bench.ping", event_data={"i": index}, source="api")
            execution_id = event.triggered_tasks[0]["execution_id"]
            row = TaskExecution.objects.filter(pk=execution_id)
            wait_for(lambda row=row: row.exclude(started_at=None).exists(), 30)
            delays.append((row.get().started_at - event.created_at).total_seconds())
            time.sleep(0.02)
    finally:
        stop(worker)
    p50, p99 = _common.percentile(delays, 0.5), _common.percentile(delays, 0.99)
    print(f"\nEvent emitted -> triggered execution started ({n} events, one at a time)")
    _common.table(
        [["emit to start", _common.ms(p50), _common.ms(p99), f"p50 <= 50 ms {_common.verdict(p50, 0.05)}"]],
        ["", "p50", "p99", "target"],
    )
    return {"p50_ms": round(p50 * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


# --- beat ----------------------------------------------------------------------------------------


def lags(starts: list[float]) -> list[float]:
    starts = sorted(starts)
    return [max(0.0, later - earlier - 1.0) for earlier, later in zip(starts, starts[1:], strict=False)]


def due_of(triggered_by: str) -> float:
    """The due time a scheduled run names ("schedule every 1 s, due 2026-12-01 10:00:05 UTC"), as a timestamp."""
    from datetime import UTC, datetime

    stamp = triggered_by.rsplit("due ", 1)[1]
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC).timestamp()


def beat(seconds: float) -> dict:
    from django.db import connection

    from extensions_core.models import TaskDefinition, TaskExecution
    from extensions_core.services import task_definition_override

    env = {**os.environ, "PYTHONPATH": f"{_common.ROOT}:{BENCH}"}
    worker = start_worker("raw_celery")
    raw_beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "raw_celery",
            "beat",
            "--loglevel",
            "ERROR",
            "-s",
            str(_common.temp_dir("karen-bench-beat-") / "schedule"),
        ],
        cwd=BENCH,
        env={**env, "RAW_BEAT": "1"},
    )
    time.sleep(seconds + 2)
    stop(raw_beat)
    stop(worker)
    with connection.cursor() as cursor:
        cursor.execute("SELECT started FROM bench_raw WHERE n = -1")
        raw = lags([row[0] for row in cursor.fetchall()][1:])

    tick = TaskDefinition.objects.select_related("extension").get(extension__name=EXTENSION, name="tick")
    worker = start_worker("karen")
    karen_beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "karen", "beat", "--loglevel", "ERROR", "-s", "/dev/null"],
        cwd=_common.ROOT,
        env=env,
    )
    time.sleep(3)
    task_definition_override(definition=tick, changes={"is_enabled": True})
    time.sleep(seconds + 2)
    task_definition_override(definition=tick, changes={"is_enabled": False})
    stop(karen_beat)
    stop(worker)
    # Beat fires task schedules at due times fixed by the schedule and names the due time in triggered_by:
    # the lag is exact here (start - due), where the raw beat's can only be read from the gaps between starts.
    karen = [
        row.started_at.timestamp() - due_of(row.triggered_by)
        for row in TaskExecution.objects.filter(task_name="tick").exclude(started_at=None)
    ]
    rows = []
    summary = {}
    for label, values in (
        ("raw beat (static schedule; gaps between starts - 1 s)", raw),
        ("platform beat (task definition rows; start - due time)", karen),
    ):
        p50, p99 = _common.percentile(values, 0.5), _common.percentile(values, 0.99)
        runs = len(values) + (1 if values is raw else 0)
        rows.append([label, runs, _common.ms(p50), _common.ms(p99), f"p99 <= 1 s {_common.verdict(p99, 1)}"])
        summary[label] = {"runs": runs, "p50_ms": round(p50 * 1000, 2), "p99_ms": round(p99 * 1000, 2)}
    print(f"\nBeat, 1 s interval for {seconds:g} s: start lag behind due time")
    _common.table(rows, ["", "runs", "lag p50", "lag p99", "target"])
    return summary


# --- sigkill -------------------------------------------------------------------------------------


def sigkill() -> dict:
    from collections import Counter

    from extensions_core.models import TaskDefinition, TaskExecution
    from extensions_core.services.executions import execution_start

    nap = TaskDefinition.objects.select_related("extension").get(extension__name=EXTENSION, name="nap")
    worker = start_worker("karen", concurrency=4)
    ids = [execution_start(definition=nap, trigger_type="manual", parameters={"seconds": 2.0}).pk for _ in range(50)]
    rows = TaskExecution.objects.filter(pk__in=ids)
    wait_for(lambda: rows.filter(status="running").count() >= 4, 60)
    os.kill(worker.pid, signal.SIGKILL)
    killed = time.monotonic()
    worker.wait()
    replacement = start_worker("karen", concurrency=4)
    try:
        ended = wait_for(lambda: not rows.filter(status__in=["pending", "running"]).exists(), 300)
    finally:
        stop(replacement)
    outcome = Counter(f"{row.status}{'/' + row.failure_reason if row.failure_reason else ''}" for row in rows)
    seconds = ended - killed
    print("\nSIGKILL of a worker (4 processes) with 50 runs of a 2 s task queued or running")
    _common.table(
        [["all 50 terminal after", f"{seconds:.1f} s", dict(outcome), _common.verdict(seconds, 60)]],
        ["", "time", "outcome", "target <= 60 s"],
    )
    return {"seconds": round(seconds, 1), "outcome": dict(outcome)}


# --- list ----------------------------------------------------------------------------------------


def listing(count: int, database_url: str) -> dict:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.test import Client

    from extensions_core.models import Extension, TaskDefinition
    from extensions_core.permissions import grant

    definitions = list(TaskDefinition.objects.filter(extension__name=EXTENSION))
    with psycopg.connect(database_url, autocommit=True) as connection:
        started = time.monotonic()
        connection.execute(
            """
            INSERT INTO extensions_core_taskexecution (
                id, definition_id, extension_name, task_name, status, failure_reason, trigger_type, triggered_by,
                parameters, is_waiting_for_dependencies, attempt, max_attempts, is_isolated, queued_at,
                dispatch_count, dispatch_error, started_at, finished_at, duration_seconds, result, error, traceback,
                log, worker)
            SELECT md5(g::text)::uuid, (ARRAY[%s])[1 + g %% %s], %s, (ARRAY[%s])[1 + g %% %s],
                   (ARRAY['completed','completed','completed','failed','cancelled'])[1 + g %% 5],
                   CASE WHEN g %% 5 = 3 THEN 'exception' ELSE '' END,
                   (ARRAY['manual','schedule','event'])[1 + g %% 3], 'bench', '{}', false, 1, 1, true,
                   now() - (g || ' seconds')::interval, 1, '', now() - (g || ' seconds')::interval,
                   now() - (g || ' seconds')::interval + interval '1 second', 1.0, '1', '', '', '[]', 'bench:1'
            FROM generate_series(1, %s) AS g
            """.replace("ARRAY[%s]", "ARRAY[" + ",".join(["%s"] * len(definitions)) + "]"),
            [
                *(d.pk for d in definitions),
                len(definitions),
                EXTENSION,
                *(d.name for d in definitions),
                len(definitions),
                count,
            ],
        )
        connection.execute("ANALYZE extensions_core_taskexecution")
        loaded = time.monotonic() - started
    users = get_user_model()
    admin = users.objects.create_superuser(f"bench-{uuid.uuid4().hex[:6]}", password="x")
    viewer = users.objects.create_user(f"viewer-{uuid.uuid4().hex[:6]}", password="x")
    for definition in definitions[:2]:
        grant(viewer, "view_taskdefinition", definition)
    assert Extension.objects.filter(name=EXTENSION).exists()
    base = "/api/extensions/background-tasks/executions"
    queries = {
        "first page (superuser)": (admin, f"{base}"),
        "status=failed": (admin, f"{base}?status=failed"),
        "extension + task": (admin, f"{base}?extension={EXTENSION}&task=nap"),
        "since 1 day ago": (
            admin,
            f"{base}?since=" + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400)),
        ),
        "user seeing 2 of 5 tasks": (viewer, base),
    }
    rows = []
    summary = {"rows": count, "insert_seconds": round(loaded, 1)}
    runs = 30
    for label, (user, url) in queries.items():
        client = Client()
        client.force_login(user)
        client.get(url)  # warm
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.content[:200]
        page = response.json()
        if page["next"]:
            times_next = []
            for _ in range(runs):
                began = time.perf_counter()
                client.get(page["next"])
                times_next.append(time.perf_counter() - began)
        p95 = _common.percentile(times, 0.95)
        rows.append(
            [
                label,
                _common.ms(p95),
                _common.ms(_common.percentile(times_next, 0.95)) if page["next"] else "-",
                len(page["results"]),
                _common.verdict(p95, 0.1),
            ]
        )
        summary[label] = round(p95 * 1000, 2)
    with psycopg.connect(database_url, autocommit=True) as connection:
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            connection.execute(
                "SELECT * FROM extensions_core_taskexecution ORDER BY queued_at DESC, id DESC LIMIT 51"
            ).fetchall()
            times.append(time.perf_counter() - began)
    raw = _common.percentile(times, 0.95)
    rows.append(["raw SQL: first page", _common.ms(raw), "-", 51, "-"])
    summary["raw SQL first page"] = round(raw * 1000, 2)
    print(
        f"\nExecution list with {count:,} rows on PostgreSQL (inserted in {loaded:.1f} s), p95 of {runs} requests "
        "in process (session auth, full middleware and DRF)"
    )
    _common.table(rows, ["query", "p95", "p95 next page", "rows", "target <= 100 ms"])
    return summary


if __name__ == "__main__":
    main()
