"""The platform's background tasks against peer task systems, one after another on the same PostgreSQL and Redis.

    cd /work/main && .venv/bin/pip install -r requirements/bench.txt && .venv/bin/python bench/peers.py
    [--runs N | --quick] [--only raw,celery-results,procrastinate,django-tasks,karen] [--rounds K]

--rounds K runs every system K times, in turn, and reports the median of each figure (ratios to raw
Celery taken within each round): on 2 shared cores one round moves by 20-30 %.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379. The same task, which
inserts one row into a table, through each system in turn, never two systems' workers at the same time:

- raw: raw Celery, `bench/raw_celery.py` (bare Celery, a kept psycopg connection); 1 worker x 2 prefork
  processes, no result backend.
- celery-results: Celery in a Django project with django-celery-results (`CELERY_RESULT_BACKEND =
  "django-db"`, extended), `bench/peer_celery_results.py`; 1 worker x 2 prefork processes.
- procrastinate: `bench/peer_procrastinate.py`, a procrastinate_jobs row per job; 2 worker processes with
  concurrency 1 each (its default; a worker is one asyncio process, so 2 processes use 2 cores).
- django-tasks: the `django-tasks` backport with `django-tasks-db`'s DatabaseBackend,
  `bench/peer_django_tasks.py`; 2 `db_worker` processes (each runs one task at a time), default 1 s poll.
- karen: this platform through `execution_start()` (a TaskExecution row per run, then a publish), in
  process and isolated (a forked sandbox, reused from run to run), reusing `bench/tasks.py`;
  1 worker x 2 prefork processes.

Each system runs in a child process of its own (one Django settings per process) on a fresh PostgreSQL
database `karen_bench_peers_<system>_<pid>`, dropped at the end, also on error, and Redis db 14, flushed
before each system. Figures, as in bench/tasks.py:

- worker drain: N runs queued first with no worker, then the workers started; runs/s from the first start
  to the last finish (boot excluded).
- end to end: the workers booted and warmed up with 100 runs, then N runs sent by 4 client threads while
  they run; runs/s from the first send until the last run is finished, and latency p50/p99 from send to
  finish. Finished means the system's own record says so (TaskResult.date_done, the 'succeeded' event,
  DBTaskResult.finished_at, TaskExecution.finished_at); raw Celery has none, so its row's time.

While the workers run, the end is found by polling every 10 ms the count of the rows the runs wrote (a small
table), and the system's records only once every row is there. The platform's broker epoch is set before its
runs are queued (Redis was just flushed; a worker would otherwise take the broker for restarted and send every
pending run again). Every run is checked afterwards (the system's record status and the rows written); the
table says how many did not complete. N is 2,000 (`--quick`: 300). The load average before and after is
printed: anything else running on the 2 cores moves the figures; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import tasks  # noqa: E402

REDIS = "redis://127.0.0.1:6379/14"
WARM_UP = 100
SYSTEMS = {
    "raw": "raw Celery",
    "celery-results": "Celery + django-celery-results",
    "procrastinate": "procrastinate",
    "django-tasks": "django-tasks + django-tasks-db",
    "karen": "platform",
}
CONFIGURATION = {
    "raw": "1 worker x 2 prefork processes; no result backend, no record of a run but the row it writes",
    "celery-results": (
        "1 worker x 2 prefork processes; CELERY_RESULT_BACKEND='django-db', result_extended=True (a TaskResult "
        "row written when a run ends, none while queued or running); CONN_MAX_AGE=600, CELERY_DB_REUSE_MAX=1000"
    ),
    "procrastinate": (
        "2 worker processes x concurrency 1 (procrastinate's default; one asyncio process uses one core); "
        "LISTEN/NOTIFY on, jobs kept (a procrastinate_jobs row per job, events in procrastinate_events)"
    ),
    "django-tasks": (
        "2 db_worker processes (one task at a time each), default --interval 1 s when the queue is empty; "
        "a DBTaskResult row per run; CONN_MAX_AGE=600"
    ),
    "karen": (
        "1 worker x 2 prefork processes (karen.settings); a TaskExecution row per run; in process and "
        "isolated (a forked sandbox, reused from run to run)"
    ),
}
RESULT_PREFIX = "FIGURES "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 runs")
    parser.add_argument("--only", default=",".join(SYSTEMS))
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every system this many times, in turn; ratios are taken within a round, the table shows medians",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = 300 if args.quick else args.runs
    # SIGTERM stops the script as Ctrl-C does: workers stopped and the database dropped on the way out.
    signal.signal(signal.SIGTERM, interrupt)
    if args.child:
        child(args.child, runs, args.database)
        return
    systems = [name for name in args.only.split(",") if name]
    unknown = [name for name in systems if name not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {','.join(SYSTEMS)}")

    load_before = os.getloadavg()
    print(f"Peers: a task inserting one row, {runs} runs per figure ({_common.machine()}); PostgreSQL + Redis")
    print(f"  commit {commit()}")
    print(f"  load average before: {' '.join(f'{value:.2f}' for value in load_before)}")
    rounds: list[dict[str, dict]] = []
    failed: list[str] = []
    for number in range(1, args.rounds + 1):
        found_in_round: dict[str, dict] = {}
        for system in (name for name in SYSTEMS if name in systems):
            print(f"\n== round {number}/{args.rounds}, {SYSTEMS[system]}: {CONFIGURATION[system]}", flush=True)
            found = run_system(system, runs)
            if found is None:
                failed.append(system)
            else:
                found_in_round.update(found)
        rounds.append(with_ratios(found_in_round))
        if args.rounds > 1:
            print(
                f"\n  round {number}: "
                + "; ".join(f"{label} {round_line(figure)}" for label, figure in found_in_round.items())
            )
    figures = medians(rounds)
    load_after = os.getloadavg()
    report(figures, runs, systems, failed, rounds=len(rounds))
    print(f"  load average before: {' '.join(f'{value:.2f}' for value in load_before)}")
    print(f"  load average after:  {' '.join(f'{value:.2f}' for value in load_after)}")
    _common.result(
        {
            "runs": runs,
            "rounds": len(rounds),
            "systems": figures,
            "each_round": rounds if len(rounds) > 1 else None,
            "did_not_run": failed,
            "load_before": [round(value, 2) for value in load_before],
            "load_after": [round(value, 2) for value in load_after],
            "commit": commit(),
        }
    )


def interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def commit() -> str:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=_common.ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short=12", "HEAD") + (" (with uncommitted changes)" if changed else "")


def run_system(system: str, runs: int) -> dict | None:
    """Run one system's child process on a fresh database; return its figures, or None when it failed."""
    import psycopg
    import redis

    name = f"karen_bench_peers_{system.replace('-', '_')}_{os.getpid()}"
    redis.Redis.from_url(REDIS).flushdb()
    with psycopg.connect(f"{tasks.POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    found = None
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                system,
                "--runs",
                str(runs),
                "--database",
                f"{tasks.POSTGRES}/{name}",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=_common.ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            for line in process.stdout:
                if line.startswith(RESULT_PREFIX):
                    found = json.loads(line[len(RESULT_PREFIX) :])
                else:
                    print(line, end="", flush=True)
            process.wait()
        finally:
            if process.poll() is None:  # leaving early (Ctrl-C, SIGTERM): stop the child, which stops its workers
                tasks.stop(process)
        if process.returncode != 0:
            print(f"  {system}: the child process exited with {process.returncode}")
    finally:
        with psycopg.connect(f"{tasks.POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return found


def with_ratios(figures: dict[str, dict]) -> dict[str, dict]:
    """Add each system's ratios to raw Celery's figures of the same round (None without them)."""
    raw = figures.get(SYSTEMS["raw"])
    for figure in figures.values():
        for key, ratio_key in (("per_second", "ratio"), ("drain_per_second", "drain_ratio")):
            known = raw and figure[key] and raw[key]
            figure[ratio_key] = round(figure[key] / raw[key], 3) if known else None
    return figures


MEDIAN_KEYS = ("per_second", "drain_per_second", "p50_ms", "p99_ms", "ratio", "drain_ratio", "drain_cpu_ms_per_run")


def medians(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    """Each system's figures as the median over the rounds (run counts added up)."""
    merged: dict[str, dict] = {}
    for label in dict.fromkeys(label for figures in rounds for label in figures):
        seen = [figures[label] for figures in rounds if label in figures]
        figure = dict(seen[0])
        for key in MEDIAN_KEYS:
            values = [each[key] for each in seen if each.get(key) is not None]
            figure[key] = round(statistics.median(values), 3) if values else None
        figure["not_completed"] = sum(each["not_completed"] for each in seen)
        figure["sent"] = sum(each["sent"] for each in seen)
        merged[label] = figure
    return merged


def round_line(figure: dict) -> str:
    ratios = "/".join(f"{figure[key]:.2f}x" if figure.get(key) is not None else "-" for key in ("ratio", "drain_ratio"))
    return f"{ratios}"


def report(figures: dict[str, dict], runs: int, systems: list[str], failed: list[str], *, rounds: int = 1) -> None:
    rows = []
    for label, figure in figures.items():
        ratio, drain_ratio = figure.get("ratio"), figure.get("drain_ratio")
        rows.append(
            [
                label,
                f"{figure['per_second']:,.0f}/s" if figure["per_second"] else "-",
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"{figure['drain_per_second']:,.0f}/s" if figure["drain_per_second"] else "-",
                f"{drain_ratio:.2f}x" if drain_ratio is not None else "-",
                f"{cpu:.2f} ms" if (cpu := figure.get("drain_cpu_ms_per_run")) is not None else "-",
                f"{figure['p50_ms']:,.1f} ms" if figure["p50_ms"] is not None else "-",
                f"{figure['p99_ms']:,.1f} ms" if figure["p99_ms"] is not None else "-",
                f"{figure['not_completed']} of {figure['sent']}",
            ]
        )
    medians_of = f"; medians of {rounds} rounds (ratios taken within each round)" if rounds > 1 else ""
    print(
        f"\nA task inserting one row: {runs} runs per figure, end to end sent by {tasks.PRODUCERS} client threads; "
        f"each system alone on the machine{medians_of}"
    )
    _common.table(
        rows,
        [
            "system",
            "end to end",
            "vs raw",
            "worker drain",
            "vs raw",
            "CPU/run (drain)",
            "latency p50",
            "latency p99",
            "not completed",
        ],
    )
    print(
        "  end to end: clients sending while the workers run (first send to last finish); worker drain: the runs "
        "queued first, then the workers started (first start to last finish); latency: send to finish; CPU/run: "
        "busy CPU of the whole machine (workers, PostgreSQL, Redis) during the drain, per run"
    )
    for system in systems:
        print(f"  {SYSTEMS[system]}: {CONFIGURATION[system]}")
    if failed:
        print(f"  did not run to the end (no figures): {', '.join(failed)}")


# --- child: one system in its own process ---------------------------------------------------------


def child(system: str, runs: int, database_url: str) -> None:
    os.environ.update({"PEER_DATABASE_URL": database_url, "PEER_BROKER_URL": REDIS})
    measure = {
        "raw": raw,
        "celery-results": lambda n: peer(CeleryResults(), n),
        "procrastinate": lambda n: peer(Procrastinate(), n),
        "django-tasks": lambda n: peer(DjangoTasks(), n),
        "karen": karen,
    }[system]
    if system in ("raw", "karen"):
        _common.setup_django(env=tasks.environment(database_url, REDIS))
        tasks.prepare(database_url)
    figures = measure(runs)
    print(RESULT_PREFIX + json.dumps(figures), flush=True)


def figure(run: dict | None, drained: float | None, sent: int, completed: int, drain_cpu: float | None) -> dict:
    latencies = run["latencies"] if run else []
    return {
        "per_second": round(run["per_second"], 1) if run else None,
        "drain_per_second": round(drained, 1) if drained else None,
        # Busy CPU of the whole machine (workers, PostgreSQL, Redis, this script's polling) per drained run.
        "drain_cpu_ms_per_run": round(drain_cpu, 3) if drain_cpu is not None else None,
        "p50_ms": round(_common.percentile(latencies, 0.5) * 1000, 2) if latencies else None,
        "p99_ms": round(_common.percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "sent": sent,
        "not_completed": sent - completed,
    }


def attempt(function: Callable, *args):
    """Call function(*args); None when it gave up (bench/tasks.py's wait_for exits when runs do not finish)."""
    try:
        return function(*args)
    except SystemExit as error:
        print(f"  {getattr(function, '__name__', 'run')}: {error}")
        return None


def raw(n: int) -> dict:
    from django.db import connection

    drained = attempt(tasks.raw_drain, n, 20_000_000)
    worker = tasks.start_worker("raw_celery")
    try:
        attempt(tasks.raw_run, WARM_UP, 10_000_000)
        run = attempt(tasks.raw_run, n, 0)
    finally:
        tasks.stop(worker)
    sent = 2 * n + WARM_UP
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT n), count(*) FROM bench_raw")
        distinct, rows = cursor.fetchone()
    print(f"  check: {sent} sent, {distinct} rows written ({rows - distinct} twice); not completed: {sent - distinct}")
    return {SYSTEMS["raw"]: figure(run, drained, sent, distinct, _common.cpu_per_run.get("raw"))}


def karen(n: int) -> dict:
    from django.db import connection
    from django.db.models import Count

    from extensions_core.broker import broker_lost_messages
    from extensions_core.models import TaskExecution

    # Redis db 14 was just flushed, so the platform's broker epoch key is missing: the first worker to look
    # would take the broker for restarted and send every pending run again (bench/tasks.py's first drain does).
    # Set it now, with nothing pending, as in a deployment whose broker the platform has seen before.
    broker_lost_messages()
    print("  broker epoch set before the first runs are queued (a running deployment's broker, not a restarted one)")
    drained = {
        "write_row_in_process": attempt(tasks.karen_drain, n, "write_row_in_process"),
        "write_row": attempt(tasks.karen_drain, n, "write_row"),
    }

    def rows_written() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_karen")
            return cursor.fetchone()[0]

    def run(count: int, task: str) -> dict | None:
        # The rows are counted first (a small table, as the other systems' checks), so the count of completed
        # TaskExecution rows by id (about 18 ms for 2,000 ids, most of it building the query) is only made once
        # every row is there, not every 10 ms while the worker runs.
        target = rows_written() + count
        return attempt(tasks.karen_run, count, task, lambda: rows_written() >= target)

    results = {}
    worker = tasks.start_worker("karen")
    try:
        run(WARM_UP, "write_row_in_process")
        results["write_row_in_process"] = run(n, "write_row_in_process")
        results["write_row"] = run(n, "write_row")
    finally:
        tasks.stop(worker)
    figures = {}
    for task, label, sent in (
        ("write_row_in_process", "platform, in process", 2 * n + WARM_UP),
        ("write_row", "platform, isolated", 2 * n),
    ):
        statuses = dict(TaskExecution.objects.filter(task_name=task).values_list("status").annotate(count=Count("id")))
        completed = statuses.get("completed", 0)
        print(f"  check {task}: {sent} sent, statuses {statuses}; not completed: {sent - completed}")
        figures[label] = figure(results[task], drained[task], sent, completed, _common.cpu_per_run.get(task))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_karen")
        print(f"  check: {cursor.fetchone()[0]} rows written for {4 * n + WARM_UP} runs")
    return figures


# --- the peers: one class each, measured by peer() ------------------------------------------------


def django_setup(settings_module: str) -> None:
    import django
    from django.core.management import call_command

    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def start_processes(commands: list[list[str]]) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": f"{_common.ROOT}:{tasks.BENCH}"}
    processes = [subprocess.Popen(command, cwd=_common.ROOT, env=env) for command in commands]
    time.sleep(4)  # boot before the clock starts, as bench/tasks.py's start_worker
    return processes


class CeleryResults:
    """Celery + django-celery-results: a TaskResult row per run, written when it ends."""

    system = "celery-results"
    finished_query = (
        "SELECT task_id, extract(epoch FROM date_done)::float FROM django_celery_results_taskresult "
        "WHERE status = 'SUCCESS' AND task_id = ANY(%s)"
    )
    statuses_query = "SELECT status, count(*) FROM django_celery_results_taskresult GROUP BY status"
    completed_status = "SUCCESS"

    def setup(self) -> None:
        django_setup("peer_celery_results")

    def send(self, n: int, sent: float) -> str:
        from peer_celery_results import write_row

        return write_row.delay(n, sent).id

    def start(self) -> list[subprocess.Popen]:
        return [tasks.start_worker("peer_celery_results")]


class Procrastinate:
    """procrastinate: a procrastinate_jobs row per job; finished = its 'succeeded' event."""

    system = "procrastinate"
    finished_query = (
        "SELECT job_id, extract(epoch FROM at)::float FROM procrastinate_events "
        "WHERE type = 'succeeded' AND job_id = ANY(%s)"
    )
    statuses_query = "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
    completed_status = "succeeded"

    def setup(self) -> None:
        import dj_database_url
        import django
        from django.conf import settings

        # Django only for the measuring side (bench/tasks.py's produce() and the row counts); procrastinate
        # itself runs without it.
        settings.configure(DATABASES={"default": dj_database_url.parse(os.environ["PEER_DATABASE_URL"])}, USE_TZ=True)
        django.setup()
        from peer_procrastinate import app

        app.open()
        app.schema_manager.apply_schema()

    def send(self, n: int, sent: float) -> int:
        from peer_procrastinate import write_row

        return write_row.defer(n=n, sent=sent)

    def start(self) -> list[subprocess.Popen]:
        command = [sys.executable, "-m", "procrastinate", "--app", "peer_procrastinate.app", "--log-level", "error"]
        return start_processes([[*command, "worker", "--concurrency", "1"] for _ in range(2)])


class DjangoTasks:
    """django-tasks with django-tasks-db: a DBTaskResult row per run."""

    system = "django-tasks"
    finished_query = (
        "SELECT id::text, extract(epoch FROM finished_at)::float FROM django_tasks_database_dbtaskresult "
        "WHERE status = 'SUCCESSFUL' AND id = ANY(%s::uuid[])"
    )
    statuses_query = "SELECT status, count(*) FROM django_tasks_database_dbtaskresult GROUP BY status"
    completed_status = "SUCCESSFUL"

    def setup(self) -> None:
        django_setup("peer_django_tasks_settings")

    def send(self, n: int, sent: float) -> str:
        from peer_django_tasks import write_row

        return str(write_row.enqueue(n, sent).id)

    def start(self) -> list[subprocess.Popen]:
        command = [sys.executable, "-m", "django", "db_worker", "--verbosity", "0"]
        return start_processes([command for _ in range(2)])


def peer(system, n: int) -> dict:
    from django.db import connection

    system.setup()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_peer (n integer, sent double precision, started double precision, "
            "done double precision)"
        )
    label = SYSTEMS[system.system]
    drained = peer_drain(system, n, 20_000_000)
    workers = system.start()
    try:
        peer_run(system, WARM_UP, 10_000_000)
        run = peer_run(system, n, 0)
    finally:
        for worker in workers:
            tasks.stop(worker)
    sent = 2 * n + WARM_UP
    with connection.cursor() as cursor:
        cursor.execute(system.statuses_query)
        statuses = dict(cursor.fetchall())
        cursor.execute("SELECT count(DISTINCT n), count(*) FROM bench_peer")
        distinct, rows = cursor.fetchone()
    completed = statuses.get(system.completed_status, 0)
    print(
        f"  check: {sent} sent, statuses {statuses}, {distinct} rows written ({rows - distinct} twice); "
        f"not completed: {sent - completed}"
    )
    return {label: figure(run, drained, sent, min(completed, distinct), _common.cpu_per_run.get("peer"))}


def finished(system, ids: list) -> dict:
    """{str(id): finish time (epoch seconds)} of the runs among *ids* that the system records as succeeded."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(system.finished_query, [ids])
        return {str(key): value for key, value in cursor.fetchall()}


def all_done(system, ids: list, offset: int) -> bool:
    """Whether every run among *ids* (n from *offset*) is finished by the system's own record.

    Polled every 10 ms while the workers run, so it first counts the rows the runs wrote (a small table, as
    bench/tasks.py's raw check) and reads the system's records (thousands of ids) only once all rows are there.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_peer WHERE n >= %s AND n < %s", [offset, offset + len(ids)])
        if cursor.fetchone()[0] < len(ids):
            return False
        cursor.execute(f"SELECT count(*) FROM ({system.finished_query}) AS done", [ids])
        return cursor.fetchone()[0] >= len(ids)


def wait(check: Callable[[], bool], limit: float, every: float) -> float | None:
    """The time (monotonic) check() first held; None when it did not within *limit* seconds."""
    try:
        return tasks.wait_for(check, limit, every)
    except SystemExit as error:
        print(f"  {error}")
        return None


def send_all(system, n: int, offset: int) -> list[tuple]:
    """Send n runs from bench/tasks.py's client threads; [(the system's id of the run, send time)]."""

    def send(index: int) -> tuple:
        sent = time.time()
        return system.send(offset + index, sent), sent

    return tasks.produce(send, n)


def peer_drain(system, n: int, offset: int) -> float | None:
    """Runs/s of the workers draining n queued runs: first start to last finish (boot excluded)."""
    from django.db import connection

    ids = [key for key, _ in send_all(system, n, offset)]
    _common.machine_cpu.start()
    workers = system.start()
    try:
        wait(lambda: all_done(system, ids, offset), 600, every=0.2)
    finally:
        for worker in workers:
            tasks.stop(worker)
    ends = finished(system, ids)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(started) FROM bench_peer WHERE n >= %s AND n < %s", [offset, offset + n])
        first = cursor.fetchone()[0]
    if not ends or first is None:
        return None
    seconds = max(ends.values()) - first
    cpu = _common.cpu_per_run["peer"] = _common.machine_cpu.per_run(first, max(ends.values()), len(ends))
    print(
        f"  drained {len(ends)} of {n} in {seconds:.1f} s"
        + (f" ({cpu:.2f} ms of machine CPU per run)" if cpu is not None else "")
        + f"; not completed: {n - len(ends)}"
    )
    return len(ends) / seconds


def peer_run(system, n: int, offset: int) -> dict | None:
    """Runs/s from the first send until the last run is finished while the workers run; send-to-finish latencies."""
    started = time.monotonic()
    sent = send_all(system, n, offset)
    sending = time.monotonic() - started
    ids = [key for key, _ in sent]
    ended = wait(lambda: all_done(system, ids, offset), 600, every=0.01)
    ends = finished(system, ids)
    latencies = [ends[str(key)] - at for key, at in sent if str(key) in ends]
    print(
        f"  {n} sends took {sending:.2f} s ({n / sending:,.0f}/s); latency p50 "
        f"{_common.ms(_common.percentile(latencies, 0.5))}; not completed: {n - len(ends)}"
    )
    if ended is None:
        return None
    return {"per_second": n / (ended - started), "latencies": latencies}


if __name__ == "__main__":
    main()
