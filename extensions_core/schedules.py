"""Beat: the scheduler that runs the platform's schedules from the database, and says it is alive.

(Turning manifest schedule declarations into django-celery-beat rows lands
here with the tasks issue.)
"""

from __future__ import annotations

import time

from django_celery_beat.schedulers import DatabaseScheduler

from extensions_core.workers import Heartbeat


class PlatformScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that also records a beat heartbeat every few seconds."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._heartbeat = Heartbeat("beat")
        self._last_beat = 0.0

    def tick(self, *args, **kwargs):
        from extensions_core.services.heartbeats import HEARTBEAT_SECONDS

        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self._heartbeat.beat()
        # Wake at least once per heartbeat period, whatever the next due task.
        return min(super().tick(*args, **kwargs), HEARTBEAT_SECONDS)

    def close(self) -> None:
        self._heartbeat.stop()
        super().close()
