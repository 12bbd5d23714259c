"""The Celery application shared by web, worker and beat processes."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karen.settings")

# Every task runs through ExtensionAwareTask, which first syncs the worker's extension registry.
app = Celery("karen", task_cls="extensions_core.tasks:ExtensionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["extensions_core"])
