"""Django settings of the django-tasks peer of bench/peers.py: the `django-tasks` backport, `django-tasks-db`.

Tasks are DBTaskResult rows run by `db_worker` processes. The database settings are the platform's
(`CONN_MAX_AGE` 600 s). Configured from PEER_DATABASE_URL; the task is in `peer_django_tasks.py` (a task
cannot be declared in the settings module: declaring one reads TASKS).
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "bench-peer-django-tasks"
USE_TZ = True
INSTALLED_APPS = ["django_tasks", "django_tasks_db"]
DATABASES = {"default": dj_database_url.parse(os.environ.get("PEER_DATABASE_URL", ""), conn_max_age=600)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
