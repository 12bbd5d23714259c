"""The task of the django-tasks peer of bench/peers.py (settings: `peer_django_tasks_settings.py`)."""

from __future__ import annotations

import time

from django.db import connection
from django_tasks import task


@task()
def write_row(n: int, sent: float) -> int:
    started = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_peer (n, sent, started, done) VALUES (%s, %s, %s, %s)", [n, sent, started, time.time()]
        )
    return n
