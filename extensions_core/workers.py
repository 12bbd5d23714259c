"""Worker process wiring: a heartbeat thread while the worker runs, and a registry sync at start."""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import DatabaseError, connection
from django.utils import timezone

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats for one process (role) in a daemon thread until stopped."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self.stopped = threading.Event()
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
            executions_reap()
        except Exception:  # noqa: BLE001 - the reaper runs again at the next beat
            logger.exception("The execution reaper failed")

    def _run(self) -> None:
        from extensions_core.services.heartbeats import HEARTBEAT_SECONDS

        while not self.stopped.is_set():
            try:
                self.beat()
                self.reap()
            except DatabaseError:
                logger.exception("Could not record the %s heartbeat", self.role)
            finally:
                connection.close()
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


def on_worker_ready(**kwargs) -> None:
    """Start beating when the worker is ready to take tasks."""
    global worker_heartbeat
    worker_heartbeat = Heartbeat("worker")
    worker_heartbeat.start()


def on_worker_shutdown(**kwargs) -> None:
    """Stop beating and forget this worker when it shuts down cleanly."""
    if worker_heartbeat is not None:
        worker_heartbeat.stop()
