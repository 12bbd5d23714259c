"""Karen Extensions: the Django project (settings, URLs, Celery app, WSGI/ASGI)."""

__version__ = "0.1.0"

from karen.celery import app as celery_app

__all__ = ["__version__", "celery_app"]
