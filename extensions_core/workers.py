"""Worker process wiring: a heartbeat thread while the worker runs, and a registry sync at start."""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery.worker.consumer import Consumer
from django.db import DatabaseError
from django.utils import timezone

from extensions_core.conf import HEARTBEAT_SECONDS
from extensions_core.database import connection_close, connection_refresh

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats for one process (role) in a daemon thread until stopped."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self.stopped = threading.Event()
        # Since when this process has reached the database without a failure (None: it just failed).
        # The reaper judges a run silent only after seeing the database for a whole silence window
        # itself, so runs whose heartbeats failed during an outage are not taken for lost.
        self.reachable_since = None
        self.thread = threading.Thread(target=self._run, name=f"karen-{role}-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def beat(self) -> None:
        from extensions_core.services.heartbeats import process_heartbeat

        process_heartbeat(role=self.role, hostname=self.hostname, pid=self.pid, started_at=self.started_at)

    def reap(self) -> None:
        """Run the execution reaper; a failure is logged, never raised (the heartbeat goes on)."""
        from extensions_core.services.reaping import executions_reap

        try:
            executions_reap(reachable_since=self.reachable_since)
        except DatabaseError as error:
            self.reachable_since = None
            logger.warning("The execution reaper could not reach the database: %s", error)
        except Exception:  # noqa: BLE001 - the reaper runs again at the next beat
            logger.exception("The execution reaper failed")

    def beat_and_reap(self) -> None:
        """Record the heartbeat, then reap; a database failure is logged and remembered, never raised."""
        connection_refresh()
        try:
            self.beat()
        except DatabaseError as error:
            self.reachable_since = None
            logger.warning("Could not record the %s heartbeat: %s", self.role, error)
            connection_close()
            return
        if self.reachable_since is None:
            self.reachable_since = timezone.now()
        self.reap()

    def _run(self) -> None:

        while not self.stopped.is_set():
            try:
                self.beat_and_reap()
            finally:
                connection_close()
            self.stopped.wait(HEARTBEAT_SECONDS)

    def stop(self) -> None:
        from extensions_core.services.heartbeats import process_heartbeat_clear

        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        try:
            process_heartbeat_clear(role=self.role, hostname=self.hostname, pid=self.pid)
        except DatabaseError:
            logger.exception("Could not clear the %s heartbeat", self.role)


worker_heartbeat: Heartbeat | None = None


def on_worker_process_init(**kwargs) -> None:
    """In each pool process: adopt orphans of the runs it hosts, so they can be ended (see process_tree)."""
    from extensions_core.process_tree import become_subreaper

    if not become_subreaper():
        logger.warning("This worker process could not become a subreaper; a run's orphans may outlive it")


def on_worker_ready(**kwargs) -> None:
    """Start beating when the worker is ready to take tasks."""
    global worker_heartbeat
    worker_heartbeat = Heartbeat("worker")
    worker_heartbeat.start()


def on_worker_shutdown(**kwargs) -> None:
    """Stop beating and forget this worker when it shuts down cleanly."""
    if worker_heartbeat is not None:
        worker_heartbeat.stop()


# Seconds between a worker's attempts to reach the broker again: first soon, then at most every 2 s.
BROKER_RECONNECT_INTERVALS = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}


class PlatformConsumer(Consumer):
    """Celery's consumer, reconnecting to a lost broker every 0.5-2 s instead of up to every 30 s."""

    def ensure_connected(self, conn):
        connect = conn.ensure_connection

        def ensure_connection(*args, **kwargs):
            for key, value in BROKER_RECONNECT_INTERVALS.items():
                kwargs.setdefault(key, value)
            return connect(*args, **kwargs)

        conn.ensure_connection = ensure_connection
        return super().ensure_connected(conn)
