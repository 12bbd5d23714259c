"""The django-celery-results peer of bench/peers.py: Django settings, a Celery app and its task, in one module.

Celery as a Django project usually runs it, with `CELERY_RESULT_BACKEND = "django-db"` keeping a durable
TaskResult row per run (extended: task name, arguments and worker too). The database settings are the
platform's (`CONN_MAX_AGE` 600 s, `CELERY_DB_REUSE_MAX` 1000), so the task keeps its connection as the
platform's does. Configured from PEER_DATABASE_URL and PEER_BROKER_URL.
"""

from __future__ import annotations

import os
import time

import dj_database_url
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_celery_results")

# --- Django settings -----------------------------------------------------------------------------

SECRET_KEY = "bench-peer-celery-results"
USE_TZ = True
INSTALLED_APPS = ["django_celery_results"]
DATABASES = {"default": dj_database_url.parse(os.environ.get("PEER_DATABASE_URL", ""), conn_max_age=600)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CELERY_BROKER_URL = os.environ.get("PEER_BROKER_URL", "redis://127.0.0.1:6379/14")
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Celery app and task -------------------------------------------------------------------------

app = Celery("peer_celery_results")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="peer.write_row")
def write_row(n: int, sent: float) -> int:
    from django.db import connection

    started = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_peer (n, sent, started, done) VALUES (%s, %s, %s, %s)", [n, sent, started, time.time()]
        )
    return n
