"""The Celery application shared by web, worker and beat processes."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karen.settings")

# Every task runs through ExtensionAwareTask, which first syncs the worker's extension registry.
app = Celery("karen", task_cls="extensions_core.tasks:ExtensionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["extensions_core"])


@worker_ready.connect
def _worker_ready(**kwargs):
    from extensions_core.workers import on_worker_ready

    on_worker_ready(**kwargs)


@worker_shutdown.connect
def _worker_shutdown(**kwargs):
    from extensions_core.workers import on_worker_shutdown

    on_worker_shutdown(**kwargs)


@worker_process_init.connect
def _worker_process_init(**kwargs):
    from extensions_core.workers import on_worker_process_init

    on_worker_process_init(**kwargs)
