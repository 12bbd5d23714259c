"""The raw baseline of bench/tasks.py: a bare Celery app whose task writes one row to PostgreSQL.

No Django, no platform: a module-level psycopg connection kept per worker
process (the "connection kept" case of DESIGN.md §9). Configured from
RAW_BROKER_URL and RAW_DATABASE_URL.
"""

from __future__ import annotations

import os
import time

import psycopg
from celery import Celery

app = Celery("raw", broker=os.environ.get("RAW_BROKER_URL", "redis://127.0.0.1:6379/13"))
app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)
if os.environ.get("RAW_BEAT"):
    app.conf.beat_schedule = {"tick": {"task": "raw.write_row", "schedule": 1.0, "args": (-1, 0.0)}}

_connection: psycopg.Connection | None = None


def _database() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["RAW_DATABASE_URL"], autocommit=True)
    return _connection


@app.task(name="raw.write_row")
def write_row(n: int, sent: float) -> None:
    started = time.time()
    _database().execute(
        "INSERT INTO bench_raw (n, sent, started, done) VALUES (%s, %s, %s, %s)", [n, sent, started, time.time()]
    )
