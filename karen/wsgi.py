"""WSGI entry point for gunicorn and other WSGI servers."""

import gc
import os

from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karen.settings")
application = get_wsgi_application()

# Collect a generation once this many collections of the one below (or, for the youngest, allocations) are due:
# CPython's own defaults, applied between requests instead of in the middle of one.
COLLECT_AFTER = (700, 10, 10)


def settle_process() -> None:
    """Tune the garbage collector for a long-lived web process, once it is set up.

    Everything loaded so far lives as long as the process: frozen, it is not
    walked again by any collection. Automatic collection is off; the
    collections that came due run as the next request starts
    (collect_between_requests). In the middle of a request, a collection walks
    everything the request still holds (a run's page holds its 10,000 log
    lines) and moves it to an older generation, whose collection then walks it
    again: 10-110 ms pauses on the dashboard bench. When the next one starts,
    the last request's objects are unreachable: collected, never moved.
    """
    gc.freeze()
    gc.disable()
    request_started.connect(collect_between_requests, dispatch_uid="karen-collect-between-requests")


def collect_between_requests(**kwargs) -> None:  # noqa: ARG001 - a signal receiver
    """Run the collections that have come due since the last request ended (CPython's thresholds)."""
    for generation in (2, 1, 0):
        if gc.get_count()[generation] >= COLLECT_AFTER[generation]:
            gc.collect(generation)  # collects the younger generations too
            return


settle_process()
